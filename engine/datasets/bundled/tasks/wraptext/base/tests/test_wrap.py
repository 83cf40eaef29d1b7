import pytest

from wraptext import wrap

TEXT = "the quick brown fox jumps over the lazy dog"


def test_wraps_at_spaces():
    assert wrap(TEXT, 10) == ["the quick", "brown fox", "jumps over", "the lazy", "dog"]


def test_empty_text():
    assert wrap("", 5) == []


def test_width_must_be_positive():
    with pytest.raises(ValueError):
        wrap("x", 0)


@pytest.mark.parametrize("width", [9, 15, 30])
def test_lines_fit_width(width):
    assert all(len(line) <= width for line in wrap(TEXT, width))


@pytest.mark.parametrize("width", [9, 15, 30])
def test_words_are_preserved(width):
    assert " ".join(wrap(TEXT, width)).split() == TEXT.split()
