"""Reading an operator's YAML file so that every failure names the file, the line and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


def read_yaml(path: Path, *, missing: str, error: type[ConfigError] = ConfigError) -> Any:
    """Parse ``path``. ``missing`` is the fix to suggest when the file does not exist."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"file not found; {missing}", file=str(path)) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", file=str(path)) from None
