from slugkit import slugify


def test_basic_title():
    assert slugify("Hello, World!") == "hello-world"


def test_german_umlauts():
    assert slugify("Grüße aus Köln") == "gruesse-aus-koeln"


def test_custom_separator():
    assert slugify("Release notes 2.0", separator="_") == "release_notes_2_0"


def test_max_length_does_not_end_with_separator():
    assert slugify("one two three", max_length=8) == "one-two"


def test_accents_are_folded():
    assert slugify("Crème brûlée") == "creme-brulee"


def test_letters_without_decomposition():
    assert slugify("Smørrebrød og Æbleskiver") == "smorrebrod-og-aebleskiver"


def test_polish_city():
    assert slugify("Łódź") == "lodz"
