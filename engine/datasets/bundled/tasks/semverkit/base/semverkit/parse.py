"""Parse semantic version strings (https://semver.org)."""

from __future__ import annotations

import re
from typing import NamedTuple

_VERSION = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


class Version(NamedTuple):
    major: int
    minor: int
    patch: int
    prerelease: str = ""


def parse(text: str) -> Version:
    """Parse ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``; build metadata is dropped."""
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"not a semantic version: {text!r}")
    return Version(
        int(match["major"]), int(match["minor"]), int(match["patch"]), match["prerelease"] or ""
    )
