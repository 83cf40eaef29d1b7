from urlquery import build_query, with_query


def test_single_param():
    assert build_query({"page": 2}) == "page=2"


def test_keeps_insertion_order():
    assert build_query({"b": 1, "a": 2}) == "b=1&a=2"


def test_list_values_repeat_the_key():
    assert build_query({"tag": ["x", "y"]}) == "tag=x&tag=y"


def test_none_values_are_left_out():
    assert build_query({"a": None, "b": "1"}) == "b=1"


def test_booleans_are_lower_case():
    assert build_query({"debug": True}) == "debug=true"


def test_with_query_replaces_existing_query():
    url = "https://api.example.org/items?old=1"
    assert with_query(url, {"page": 3}) == "https://api.example.org/items?page=3"


def test_spaces_are_encoded():
    assert build_query({"q": "red shoes"}) == "q=red+shoes"
