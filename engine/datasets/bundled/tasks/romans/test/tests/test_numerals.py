import pytest

from romans import from_roman, to_roman


@pytest.mark.parametrize(
    ("number", "numeral"),
    [(1, "I"), (4, "IV"), (9, "IX"), (14, "XIV"), (1994, "MCMXCIV"), (3999, "MMMCMXCIX")],
)
def test_to_roman(number, numeral):
    assert to_roman(number) == numeral


@pytest.mark.parametrize(
    ("numeral", "number"),
    [
        ("III", 3),
        ("VIII", 8),
        ("LXVI", 66),
        ("mdclxvi", 1666),
        ("IV", 4),
        ("MCMXCIV", 1994),
    ],
)
def test_from_roman(numeral, number):
    assert from_roman(numeral) == number


@pytest.mark.parametrize("number", [0, 4000, -1])
def test_to_roman_out_of_range(number):
    with pytest.raises(ValueError):
        to_roman(number)


def test_from_roman_rejects_other_letters():
    with pytest.raises(ValueError):
        from_roman("XIZ")


@pytest.mark.parametrize("numeral", ["IIII", "IC"])
def test_from_roman_rejects_non_standard(numeral):
    with pytest.raises(ValueError):
        from_roman(numeral)
