"""Roman numerals for 1 to 3999, in the standard subtractive notation."""

from __future__ import annotations

_NUMERALS = [
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
]
_SYMBOLS = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def to_roman(number: int) -> str:
    """``1994`` -> ``"MCMXCIV"``."""
    if not 0 < number < 4000:
        raise ValueError(f"{number} is out of range (1 to 3999)")
    parts = []
    for value, numeral in _NUMERALS:
        count, number = divmod(number, value)
        parts.append(numeral * count)
    return "".join(parts)


def from_roman(numeral: str) -> int:
    """The value of a Roman numeral, in upper or lower case."""
    text = numeral.strip().upper()
    if not text or any(char not in _SYMBOLS for char in text):
        raise ValueError(f"not a Roman numeral: {numeral!r}")
    return sum(_SYMBOLS[char] for char in text)
