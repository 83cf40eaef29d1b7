"""Basic operations on matrices stored as lists of rows."""

from __future__ import annotations

Matrix = list[list[float]]


def shape(matrix: Matrix) -> str:
    """``"rowsxcols"``, for error messages."""
    return f"{len(matrix)}x{len(matrix[0]) if matrix else 0}"


def identity(size: int) -> Matrix:
    return [[1.0 if row == col else 0.0 for col in range(size)] for row in range(size)]


def transpose(matrix: Matrix) -> Matrix:
    """Rows become columns."""
    return [[matrix[row][col] for row in range(len(matrix))] for col in range(len(matrix))]


def matmul(left: Matrix, right: Matrix) -> Matrix:
    """The matrix product ``left @ right``."""
    if len(left) != len(right):
        raise ValueError(f"cannot multiply {shape(left)} by {shape(right)}")
    columns = transpose(right)
    return [[sum(a * b for a, b in zip(row, col, strict=True)) for col in columns] for row in left]
