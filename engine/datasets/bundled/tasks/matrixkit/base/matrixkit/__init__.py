"""Small dense matrices as lists of rows."""

from .linalg import determinant, identity, matmul, transpose

__all__ = ["determinant", "identity", "matmul", "transpose"]
