"""Amounts of money in one currency, kept as Decimal and rounded to the cent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


def round_amount(value: Decimal | int | float | str, places: int = 2) -> Decimal:
    """Round ``value`` to ``places`` decimals, as printed on an invoice."""
    return Decimal(str(round(float(value), places)))


@dataclass(frozen=True)
class Money:
    """An amount in one currency; the amount is rounded to the cent on creation."""

    amount: Decimal
    currency: str = "EUR"

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", round_amount(self.amount))

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount:.2f} {self.currency}"
