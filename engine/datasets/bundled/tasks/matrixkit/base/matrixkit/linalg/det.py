"""Determinants by cofactor expansion, which is plenty for the small matrices this is for."""

from __future__ import annotations

from .ops import Matrix


def determinant(matrix: Matrix) -> float:
    size = len(matrix)
    if size == 0 or any(len(row) != size for row in matrix):
        raise ValueError("determinant needs a non-empty square matrix")
    if size == 1:
        return matrix[0][0]
    total = 0.0
    for col in range(size):
        minor = [row[:col] + row[col + 1 :] for row in matrix[1:]]
        total += (-1) ** col * matrix[0][col] * determinant(minor)
    return total
