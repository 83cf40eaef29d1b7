"""Read INI text: [sections], key = value pairs, and ; or # comments."""

from __future__ import annotations


class ParseError(ValueError):
    """A line that is not a section header, a comment or a key = value pair."""

    def __init__(self, lineno: int, line: str):
        super().__init__(f"line {lineno}: cannot parse {line!r}")
        self.lineno = lineno


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _strip_inline_comment(value: str) -> str:
    """Drop a ``;`` comment that follows whitespace, unless the ``;`` is inside leading quotes."""
    start = 0
    if value[:1] in ("'", '"'):
        closing = value.find(value[0], 1)
        start = closing + 1 if closing > 0 else len(value)
    for index in range(start, len(value)):
        if value[index] == ";" and (index == 0 or value[index - 1].isspace()):
            return value[:index].rstrip()
    return value


def parse(text: str) -> dict[str, dict[str, str]]:
    """Parse INI text into ``{section: {key: value}}``; keys are lower-cased."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise ParseError(lineno, raw)
        current[key.strip().lower()] = _unquote(_strip_inline_comment(value.strip()))
    return sections
