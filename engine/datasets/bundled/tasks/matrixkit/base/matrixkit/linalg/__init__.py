"""Linear algebra on matrices stored as lists of rows."""

from .det import determinant
from .ops import identity, matmul, transpose

__all__ = ["determinant", "identity", "matmul", "transpose"]
