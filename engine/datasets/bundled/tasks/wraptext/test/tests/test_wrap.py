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


URL_TEXT = "see https://example.org/a/very/long/path for details"


@pytest.mark.parametrize("width", [8, 12])
def test_long_words_are_broken(width):
    lines = wrap(URL_TEXT, width)
    assert all(len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == URL_TEXT.replace(" ", "")


def test_long_word_starts_on_its_own_line():
    assert wrap("ab cdefghij kl", 4) == ["ab", "cdef", "ghij", "kl"]
