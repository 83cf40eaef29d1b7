import pytest

from matrixkit import determinant, identity, matmul, transpose


def test_identity():
    assert identity(2) == [[1.0, 0.0], [0.0, 1.0]]


def test_transpose_square():
    assert transpose([[1, 2], [3, 4]]) == [[1, 3], [2, 4]]


def test_matmul_square():
    assert matmul([[1, 2], [3, 4]], [[5, 6], [7, 8]]) == [[19, 22], [43, 50]]


def test_matmul_by_identity():
    matrix = [[2, 0, 1], [1, 3, 2], [0, 1, 4]]
    assert matmul(matrix, identity(3)) == matrix


def test_determinant_3x3():
    assert determinant([[2, 0, 1], [1, 3, 2], [0, 1, 4]]) == pytest.approx(21)


def test_transpose_rectangular():
    assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]


def test_matmul_rectangular():
    assert matmul([[1, 2, 3], [4, 5, 6]], [[1, 0], [0, 1], [1, 1]]) == [[4, 5], [10, 11]]


def test_matmul_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match="cannot multiply 2x3 by 2x2"):
        matmul([[1, 2, 3], [4, 5, 6]], [[1, 0], [0, 1]])
