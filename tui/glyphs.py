"""Glyphs for pipelines, gauges, outcomes and alerts, with an ASCII set for terminals without Unicode.

Why detect instead of always drawing Unicode: an operator over SSH often lands in a ``C``/``POSIX``
locale, or a serial console, where block and circle glyphs arrive as mojibake and the state
pipeline becomes unreadable. ``RAMP_ASCII=1`` forces the ASCII set and ``RAMP_ASCII=0`` forces
Unicode; otherwise the locale variables and the output encoding decide. Every glyph that carries
meaning has a distinct ASCII stand-in, so nothing is lost when colour is off too (``NO_COLOR``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Glyphs:
    ascii: bool
    stage_done: str
    stage_now: str
    stage_todo: str
    resolved: str
    unresolved: str
    error: str
    bar_full: str
    bar_empty: str
    bar_left: str
    bar_right: str
    sep: str
    alert: dict[str, str]
    test_pass: str
    test_fail: str
    enter: str

    def outcome(self, outcome: str | None) -> str:
        return {"resolved": self.resolved, "unresolved": self.unresolved, "error": self.error}.get(outcome or "", " ")

    def bar(self, fraction: float, width: int) -> str:
        """A gauge ``width`` cells wide (its brackets included), filled to ``fraction``."""
        inner = max(1, width - 2)
        filled = round(max(0.0, min(1.0, fraction)) * inner)
        return self.bar_left + self.bar_full * filled + self.bar_empty * (inner - filled) + self.bar_right


UNICODE = Glyphs(
    ascii=False, stage_done="●", stage_now="●", stage_todo="·", resolved="✓", unresolved="✗", error="!",
    bar_full="█", bar_empty="░", bar_left="▕", bar_right="▏", sep=" · ",
    alert={"info": "ℹ", "warning": "▲", "error": "✖"}, test_pass="✓", test_fail="✗", enter="⏎",
)
ASCII = Glyphs(
    ascii=True, stage_done="#", stage_now=">", stage_todo=".", resolved="+", unresolved="x", error="!",
    bar_full="#", bar_empty="-", bar_left="[", bar_right="]", sep=" | ",
    alert={"info": "i", "warning": "!", "error": "X"}, test_pass="ok", test_fail="FAIL", enter="Enter",
)


def unicode_ok(environ: Mapping[str, str] | None = None, encoding: str | None = None) -> bool:
    """Whether this terminal can show the Unicode set (see the module docstring for the rules)."""
    env = os.environ if environ is None else environ
    forced = env.get("RAMP_ASCII", "").strip().lower()
    if forced in ("1", "true", "yes"):
        return False
    if forced in ("0", "false", "no"):
        return True
    locale = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or ""
    if locale and locale.upper() in ("C", "POSIX"):
        return False
    if locale and "UTF-8" not in locale.upper() and "UTF8" not in locale.upper():
        return False
    encoding = encoding if encoding is not None else (getattr(sys.__stdout__, "encoding", None) or "")
    return "UTF" in encoding.upper()


def detect(environ: Mapping[str, str] | None = None, encoding: str | None = None) -> Glyphs:
    return UNICODE if unicode_ok(environ, encoding) else ASCII
