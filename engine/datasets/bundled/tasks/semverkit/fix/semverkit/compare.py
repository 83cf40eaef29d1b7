"""Order versions by semver precedence (https://semver.org/#spec-item-11)."""

from __future__ import annotations

from .parse import Version, parse


def _key(version: Version) -> tuple:
    # A release sorts after all of its pre-releases. Between pre-releases, numeric identifiers
    # compare as numbers and before alphanumeric ones; a longer list wins when the rest is equal.
    if not version.prerelease:
        return (version.major, version.minor, version.patch, 1, ())
    identifiers = tuple(
        (0, part, "") if isinstance(part, int) else (1, 0, part) for part in version.prerelease
    )
    return (version.major, version.minor, version.patch, 0, identifiers)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to, or after ``b``."""
    key_a, key_b = _key(parse(a)), _key(parse(b))
    return (key_a > key_b) - (key_a < key_b)


def sort_versions(versions: list[str]) -> list[str]:
    """The versions in ascending precedence."""
    return sorted(versions, key=lambda text: _key(parse(text)))
