from urlquery import build_query, encode_value


def test_space_is_percent_encoded():
    assert encode_value("red shoes") == "red%20shoes"


def test_reserved_characters_are_escaped():
    assert encode_value("a&b=c/d") == "a%26b%3Dc%2Fd"


def test_build_query_encodes_space_as_percent20():
    assert build_query({"q": "red shoes"}) == "q=red%20shoes"


def test_build_query_and_encode_value_agree():
    assert build_query({"q": "50% off~"}) == "q=" + encode_value("50% off~")
