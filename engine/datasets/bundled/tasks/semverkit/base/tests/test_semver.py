import pytest

from semverkit import compare, parse, sort_versions


def test_parse_release():
    version = parse("1.2.3")
    assert (version.major, version.minor, version.patch) == (1, 2, 3)
    assert not version.prerelease


def test_parse_drops_build_metadata():
    assert parse("1.0.0+build.5") == parse("1.0.0")


def test_parse_rejects_leading_zero():
    with pytest.raises(ValueError):
        parse("01.0.0")


def test_compare_numeric_parts():
    assert compare("1.10.0", "1.9.0") == 1
    assert compare("2.0.0", "2.0.0") == 0


def test_sort_releases():
    assert sort_versions(["1.0.10", "1.0.2", "0.9.0"]) == ["0.9.0", "1.0.2", "1.0.10"]
