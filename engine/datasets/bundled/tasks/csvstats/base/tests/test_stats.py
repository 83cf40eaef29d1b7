import io

import pytest

from csvstats import column_stats


def test_basic_stats():
    stats = column_stats(io.StringIO("name,price\na,1\nb,2\nc,6\n"), "price")
    assert (stats.count, stats.mean, stats.minimum, stats.maximum) == (3, 3.0, 1.0, 6.0)


def test_unknown_column_raises():
    with pytest.raises(KeyError):
        column_stats(io.StringIO("a,b\n1,2\n"), "c")


def test_empty_column_raises():
    with pytest.raises(ValueError):
        column_stats(io.StringIO("a\n"), "a")


def test_reads_from_path(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("x\n1.5\n2.5\n", encoding="utf-8")
    assert column_stats(path, "x").mean == 2.0
