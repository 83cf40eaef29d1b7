from datetime import date

from daterange import add_months, days, months


def test_days_excludes_end_by_default():
    assert list(days(date(2024, 3, 1), date(2024, 3, 3))) == [date(2024, 3, 1), date(2024, 3, 2)]


def test_days_inclusive():
    assert list(days(date(2024, 2, 28), date(2024, 3, 1), inclusive=True)) == [
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
    ]


def test_add_months_simple():
    assert add_months(date(2024, 1, 15), 1) == date(2024, 2, 15)


def test_add_months_across_year_end():
    assert add_months(date(2023, 11, 10), 3) == date(2024, 2, 10)


def test_add_months_backwards():
    assert add_months(date(2024, 1, 10), -1) == date(2023, 12, 10)


def test_months_mid_month():
    assert list(months(date(2024, 1, 15), date(2024, 4, 1))) == [
        date(2024, 1, 15),
        date(2024, 2, 15),
        date(2024, 3, 15),
    ]


def test_add_months_clamps_to_end_of_month():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)


def test_add_months_clamps_backwards():
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)


def test_months_from_end_of_month():
    assert list(months(date(2024, 1, 31), date(2024, 5, 1))) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]
