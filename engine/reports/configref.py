"""The configuration reference in README.md: every key of config/ramp.yaml, one line each, made from
the pydantic models that validate them (so it cannot drift: tests/test_readme_config.py compares).

``python -m engine.reports.configref`` prints the block; ``--write README.md`` replaces the one
between the markers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..agents import AGENTS
from ..core.config import Settings
from ..evaluators import CANONICAL, EVALUATORS

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def _first_sentence(text: str) -> str:
    text = " ".join((text or "").split())
    if ". " in text:
        text = text.split(". ", 1)[0]
    return text.rstrip(".").replace("|", "\\|")


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "-"
        if isinstance(value, BaseModel):
            return "-"
    else:
        value = field.default
    text = repr(value) if not isinstance(value, Path) else str(value)
    text = text if len(text) <= 30 else text[:27] + "..."
    return text.replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    lines = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and name not in ("gate",):
            lines += _rows(annotation, f"{prefix}{name}.")
            continue
        if name in ("evaluators", "agents") and prefix == "":
            continue  # their keys are each backend's own, listed below
        text = _first_sentence(field.description or "")
        lines.append(f"| `{prefix}{name}` | {_default(field)} | {text} |".replace("|  |", "| |"))
    return lines


def reference() -> str:
    """The README block, markers included."""
    head = "| key | default | what it is |\n|---|---|---|"
    parts = [START, "", head, *_rows(Settings, "")]
    for name in sorted(set(CANONICAL.get(n, n) for n in EVALUATORS.names())):
        parts += _rows(EVALUATORS.get(name).Config, f"evaluators.{name}.")
    for name in AGENTS.names():
        config = getattr(AGENTS.get(name), "Config", None)
        if config is not None:
            parts += _rows(config, f"agents.{name}.")
    return "\n".join([*parts, "", END])


def main(argv: list[str]) -> int:
    block = reference()
    if argv[:1] == ["--write"] and len(argv) == 2:
        path = Path(argv[1])
        text = path.read_text()
        start, end = text.index(START), text.index(END) + len(END)
        path.write_text(text[:start] + block + text[end:])
        return 0
    print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
