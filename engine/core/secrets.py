"""Credentials, and the redactor that keeps them off every exit.

Keys come from ``secrets/credentials.txt`` (``KEY=VALUE`` lines, ``#`` comments; gitignored, with a
committed ``credentials.example``) and from the environment. The environment wins, so CI and a
one-off shell can override the file without editing it.

A key must never reach a log, the store, an artifact, a report, an error message or the screen.
Rather than trusting every writer to be careful, each exit is handed a :class:`Redactor`, which
replaces every known secret value, and anything shaped like a key (``sk-...``, ``Bearer ...``), with
``[REDACTED]``. Known values come from the credentials file and from environment variables whose
names say they hold a secret (``*_API_KEY``, ``*_TOKEN``, ...), both the value in use and the one it
overrides. Shapes catch the keys Ramp was never told about, such as one echoed back in a provider's
error body.

Wiring (done by :func:`engine.run.runner.execute_run`): ``Store(path, redact=r)``,
``RunFolder(..., redact=r)``, ``RedactingDisplay(display, r)``, and :func:`install`, which sends every
log record through ``r`` and makes :func:`current` return it for writers without a handle on the run
(agents' trajectories, reports, the CLI's error line).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .events import Display, Event, parse_event
from .yamlfile import read_text

REDACTED = "[REDACTED]"

#: Values shorter than this (LiteLLM's default key ``sk-1234``) are still redacted, but only where
#: they stand as a whole word, so that one does not eat parts of ordinary words; and the run warns,
#: since a short value can still hide ordinary text equal to it.
MIN_SECRET_LENGTH = 8

#: Environment variables whose names say they hold a secret (OPENROUTER_API_KEY, GITHUB_TOKEN; not MONKEY).
SECRET_NAME = re.compile(r"(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)

#: Things shaped like keys, redacted even when Ramp was never told the value. Real keys are long;
#: the length floors keep short fixtures in a repository's tests (``"Bearer abc"``) out of it, since
#: patches pass through the same redactor.
KEY_SHAPES: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}"),  # OpenAI, OpenRouter (sk-or-v1-...), LiteLLM virtual keys
    re.compile(r"\bcpk_[A-Za-z0-9._\-]{20,}"),  # Chutes
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=\-]{20,}"),
)
#: ``api_key=...``, ``"authorization": "..."`` and the like: the name stays, the value goes.
KEY_ASSIGNMENT = re.compile(
    r"(?i)\b(api[_-]?key|x-api-key|authorization|access[_-]?token)(\"?'?\s*[:=]\s*\"?'?)([^\s\"',}]{16,})"
)


def parse_credentials(text: str, source: str) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines. Errors name the file and line, never the value."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"line {number}: expected KEY=VALUE (value not shown)", file=source)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values


class Secrets:
    """Credential look-up: the environment first, then the credentials file."""

    def __init__(self, file_values: Mapping[str, str], environ: Mapping[str, str], path: Path):
        self.path = Path(path)
        self._file = dict(file_values)
        self._env = dict(environ)

    @classmethod
    def load(cls, path: Path, environ: Mapping[str, str] | None = None) -> Secrets:
        path = Path(path)
        try:
            text = read_text(path)
        except FileNotFoundError:
            text = ""
        return cls(parse_credentials(text, str(path)), os.environ if environ is None else environ, path)

    def get(self, name: str) -> str | None:
        """The value in use, or None when it is unset or empty in both places."""
        return self._env.get(name) or self._file.get(name) or None

    def where(self, name: str) -> str | None:
        """Where the value in use comes from, for preflight lines (never the value itself)."""
        if self._env.get(name):
            return f"environment variable {name}"
        if self._file.get(name):
            return f"{name} in {self.path}"
        return None

    def missing_hint(self, name: str) -> str:
        return (
            f"{name} is not set: add a line {name}=... to {self.path} (see secrets/credentials.example) "
            f"or export {name}"
        )

    def _named(self) -> dict[str, set[str]]:
        """Secret values by variable name: the file's, and the environment's secret-named ones."""
        named: dict[str, set[str]] = {}
        for name, value in self._file.items():
            if value:
                named.setdefault(name, set()).add(value)
        for name, value in self._env.items():
            if value and (name in self._file or SECRET_NAME.search(name)):
                named.setdefault(name, set()).add(value)
        return named

    def values(self) -> set[str]:
        """Every value worth redacting, whatever its length."""
        return {v for values in self._named().values() for v in values}

    def short(self) -> list[str]:
        """Names (never values) of credentials shorter than :data:`MIN_SECRET_LENGTH`."""
        return sorted(n for n, values in self._named().items() if any(len(v) < MIN_SECRET_LENGTH for v in values))


class Redactor:
    """Replaces secret values and key-shaped strings with ``[REDACTED]``. Callable: ``r(text)``."""

    #: Strings up to this long are remembered with their redaction: an event's keys, states, ids and
    #: numbers-as-text repeat in every event, and each would otherwise take every pattern again.
    CACHED_LENGTH = 160
    CACHE_SIZE = 4096

    def __init__(self, values: Iterable[str] = ()):
        self._values: set[str] = set()
        self._literal: re.Pattern[str] | None = None
        self._seen: dict[str, str] = {}
        self.add(*values)

    @classmethod
    def for_secrets(cls, secrets: Secrets) -> Redactor:
        return cls(secrets.values())

    def add(self, *values: str) -> None:
        """Learn more values (for example a key read after the redactor was built)."""
        self._values |= {v for v in values if v}
        ordered = sorted(self._values, key=len, reverse=True)  # longest first: no partial leftovers
        self._literal = re.compile("|".join(map(_literal, ordered))) if ordered else None
        self._seen = {}  # what was clean may not be any more

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if len(text) > self.CACHED_LENGTH:
            return self._redact(text)
        clean = self._seen.get(text)
        if clean is None:
            if len(self._seen) >= self.CACHE_SIZE:
                self._seen.clear()
            clean = self._seen[text] = self._redact(text)
        return text if clean == text else clean  # unchanged: the same object, as callers check

    def _redact(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(REDACTED, text)
        for shape in KEY_SHAPES:
            text = shape.sub(REDACTED, text)
        return KEY_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _literal(value: str) -> str:
    """The pattern of one known value: anywhere when long, as a whole word when short."""
    if len(value) >= MIN_SECRET_LENGTH:
        return re.escape(value)
    return rf"(?<![A-Za-z0-9_]){re.escape(value)}(?![A-Za-z0-9_])"


#: Values that hold no text: returned as they are, without a call.
_NO_TEXT = frozenset({int, float, bool, type(None)})


def redact_data(data: Any, redact: Callable[[str], str]) -> Any:
    """``data`` (JSON-shaped: dicts, lists, strings, numbers) with every string redacted, keys too.

    Structured data is redacted value by value rather than as dumped JSON text, so that a secret
    equal to a piece of JSON syntax (``true``, ``1``, a quote) can never turn a record into one that
    no longer parses. Returns ``data`` itself when nothing changed, and copies a dict or list only
    from its first changed item on (every event a run stores passes here: about 9 per attempt).
    """
    kind = type(data)
    if kind is str:
        return redact(data)
    if kind in _NO_TEXT:
        return data
    if kind is dict or isinstance(data, dict):
        copy: dict[Any, Any] | None = None
        for index, (key, value) in enumerate(data.items()):
            new_key = redact(key) if type(key) is str else redact_data(key, redact)
            value_kind = type(value)
            if value_kind is str:
                new_value = redact(value)
            elif value_kind in _NO_TEXT:
                new_value = value
            else:
                new_value = redact_data(value, redact)
            if copy is None:
                if new_key is key and new_value is value:
                    continue
                copy = dict(islice(data.items(), index))
            copy[new_key] = new_value
        return data if copy is None else copy
    if kind is list or kind is tuple or isinstance(data, list | tuple):
        items: list[Any] | None = None
        for index, value in enumerate(data):
            new_value = redact(value) if type(value) is str else redact_data(value, redact)
            if items is None:
                if new_value is value:
                    continue
                items = list(data[:index])
            items.append(new_value)
        return data if items is None else items
    if isinstance(data, str):
        return redact(data)
    return data


def redacted_json(data: Any, redact: Callable[[str], str], *, native: bool = False, **dump: Any) -> str:
    """``json.dumps`` of :func:`redact_data` (``default=str`` for paths and times). ``native``
    says ``data`` holds only JSON's own types (a ``model_dump(mode="json")``, a prediction), so
    the round trip through JSON that turns anything else into its text first is not needed."""
    if not native:
        data = json.loads(json.dumps(data, default=str))
    return json.dumps(redact_data(data, redact), **dump)


def redact_event(event: Event, redact: Callable[[str], str]) -> tuple[dict[str, Any], Event]:
    """An event's JSON data (without its seq) and the event itself, redacted value by value: the
    same object when nothing in it was a secret. The store writes every event through this, and a
    run's displays show the event the store returns."""
    raw = event.model_dump(mode="json", exclude={"seq"})
    data = redact_data(raw, redact)
    return data, event if data is raw else parse_event(data)


class RedactingDisplay:
    """Wraps a Display fed by something other than a run's store (which already redacts)."""

    def __init__(self, inner: Display, redact: Redactor):
        self.inner = inner
        self.redact = redact

    def show(self, event: Event) -> None:
        self.inner.show(redact_event(event, self.redact)[1])

    def close(self) -> None:
        self.inner.close()


_current = Redactor()
_factory_installed = False


def current() -> Redactor:
    """The redactor installed for this process (one that only knows key shapes until then)."""
    return _current


def install(redactor: Redactor) -> None:
    """Make ``redactor`` the process's: every log record passes through it, and :func:`current`.

    httpx and httpcore are held at WARNING, so that a root logger at DEBUG cannot make them print
    request lines; the record factory below redacts whatever still gets through.
    """
    global _current, _factory_installed
    _current = redactor
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if _factory_installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_record(*args, **kwargs) -> logging.LogRecord:  # type: ignore[no-untyped-def]
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: leave it for logging to report
            return record
        record.msg, record.args = _current(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _current(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(redacting_record)
    _factory_installed = True
