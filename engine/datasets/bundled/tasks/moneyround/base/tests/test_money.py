from decimal import Decimal

import pytest

from moneyround import Money, round_amount


def test_round_amount_truncates_long_fractions():
    assert round_amount("1.234") == Decimal("1.23")


def test_round_amount_returns_decimal():
    assert isinstance(round_amount(3), Decimal)


def test_money_str_has_two_decimals():
    assert str(Money(Decimal("5"), "USD")) == "5.00 USD"


def test_add_same_currency():
    assert Money(Decimal("1.10")) + Money(Decimal("2.20")) == Money(Decimal("3.30"))


def test_add_other_currency_raises():
    with pytest.raises(ValueError):
        Money(Decimal("1"), "EUR") + Money(Decimal("1"), "USD")
