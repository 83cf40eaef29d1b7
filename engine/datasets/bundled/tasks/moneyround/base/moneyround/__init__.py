"""Money amounts that round the way invoices do."""

from .money import Money, round_amount

__all__ = ["Money", "round_amount"]
