"""Reading an operator's YAML file so that every failure names the file, the line and the fix.

Two things a YAML parser allows are refused here. A file that is not UTF-8 (a UTF-16 file saved by a
Windows editor, say) is named as such instead of failing deep inside. And anchors and aliases are
bounded: a few hundred bytes of nested aliases (the "billion laughs") describe billions of values,
and the parser builds them cheaply as shared references, but everything after it (validation, the
copies config layering makes, a JSON dump) expands them, and once took 1.8 GB for a 437-byte file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

#: The most values a YAML document may expand to, its aliases followed. Ramp's own files hold a few
#: hundred; a slice of instance ids a few thousand.
MAX_YAML_VALUES = 100_000


def expanded_size(data: Any, limit: int = MAX_YAML_VALUES) -> int:
    """How many values ``data`` holds with every shared (aliased) part counted each time it is
    used; stops counting past ``limit``. Linear in the distinct values, however deep the aliases."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if isinstance(value, dict):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            return 1
        key = id(value)
        if key not in sizes:
            sizes[key] = limit + 1  # a cycle (a recursive alias) is over any limit
            total = 1
            for child in children:
                total += size(child)
                if total > limit:
                    break
            sizes[key] = min(total, limit + 1)
        return sizes[key]

    return size(data)


def load_yaml_text(text: str, source: str, *, error: type[ConfigError] = ConfigError) -> Any:
    """Parse YAML text from ``source`` (a file, or an environment variable), bounded."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", file=source) from None
    except RecursionError:
        raise error("nested too deeply to read; flatten it", file=source) from None
    return check_expansion(data, source, error=error)


def check_expansion(data: Any, source: str, *, error: type[ConfigError] = ConfigError) -> Any:
    """``data`` itself, or an error when its aliases expand past :data:`MAX_YAML_VALUES`."""
    if expanded_size(data) > MAX_YAML_VALUES:
        raise error(
            f"expands to more than {MAX_YAML_VALUES:,} values through its anchors and aliases "
            "(&name / *name); write the values out, or use fewer nested aliases",
            file=source,
        )
    return data


def read_text(path: Path, *, error: type[ConfigError] = ConfigError) -> str:
    """An operator's text file (a config, a catalog, the credentials), decoded as UTF-8. A folder, an
    unreadable file or one that is not UTF-8 raises ``error`` naming the file (and never quoting its
    content, which may hold secrets); a missing one raises FileNotFoundError, for the caller to say
    what a missing file means."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise error("is a folder, not a file", file=str(path)) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        return raw.decode("utf-8-sig")  # a UTF-8 byte-order mark is harmless: accept it
    except UnicodeDecodeError as exc:
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
        looks = "it is UTF-16 (it starts with a UTF-16 byte-order mark)" if utf16 else (
            f"byte {exc.start} is not UTF-8"
        )
        raise error(f"not UTF-8 text: {looks}; save the file as UTF-8", file=str(path)) from None


def read_yaml(path: Path, *, missing: str, error: type[ConfigError] = ConfigError) -> Any:
    """Parse ``path``. ``missing`` is the fix to suggest when the file does not exist."""
    try:
        text = read_text(path, error=error)
    except FileNotFoundError:
        raise error(f"file not found; {missing}", file=str(path)) from None
    return load_yaml_text(text, str(path), error=error)
