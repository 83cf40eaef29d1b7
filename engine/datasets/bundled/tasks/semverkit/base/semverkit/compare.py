"""Order versions by semver precedence."""

from __future__ import annotations

from .parse import Version, parse


def _key(version: Version) -> tuple:
    return (version.major, version.minor, version.patch, version.prerelease)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to, or after ``b``."""
    key_a, key_b = _key(parse(a)), _key(parse(b))
    return (key_a > key_b) - (key_a < key_b)


def sort_versions(versions: list[str]) -> list[str]:
    """The versions in ascending precedence."""
    return sorted(versions, key=lambda text: _key(parse(text)))
