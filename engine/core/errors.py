"""Error classes and the small exception hierarchy the engine uses for control flow.

Every failure that reaches the store carries an :data:`ErrorClass`. The scheduler requeues only the
retryable ones, and metrics keep ``infra`` failures out of the model's denominator: an environment
that could not be built says nothing about the model.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Literal, get_args


class ExitCode(IntEnum):
    """How every `ramp` command ends (DESIGN.md, "Exit codes"); scripts and cron depend on them."""

    OK = 0  #: finished, the last gate not STOP
    GATE_STOP = 1  #: a gate said STOP (or a budget or quota stopped the run)
    CONFIG = 2  #: usage or config error
    INFRA = 3  #: infrastructure failure
    INTERRUPTED = 130  #: SIGINT or SIGTERM, or stopped by the operator
    CLOSED_PIPE = 141  #: the reader of stdout went away (128 + SIGPIPE, as a shell tool reports)

ErrorClass = Literal[
    "infra",
    "rate_limit",
    "timeout",
    "model_format",
    "malformed_patch",
    "eval_flaky",
    "budget",
]
ERROR_CLASSES: tuple[str, ...] = get_args(ErrorClass)

#: Classes worth another try of the same attempt: the cause is outside the model.
RETRYABLE: frozenset[str] = frozenset({"infra", "rate_limit", "timeout", "eval_flaky"})

#: Classes that are not the model's fault and never count as a model failure.
NOT_SCORED: frozenset[str] = frozenset({"infra", "rate_limit", "budget"})


class RampError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code: int = ExitCode.INFRA


class ConfigError(RampError):
    """Bad configuration or usage. The message names the file, the field and the fix."""

    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None):
        self.file = file
        self.field = field
        where = ": ".join(p for p in (file, field) if p)
        super().__init__(f"{where}: {message}" if where else message)


class DatasetError(ConfigError):
    """A dataset that cannot be used: missing, unreadable, or no longer matching its lock."""


class AttemptError(RampError):
    """An attempt failed with a known error class. Raised by agents, sandboxes and evaluators."""

    def __init__(self, error_class: ErrorClass, message: str):
        if error_class not in ERROR_CLASSES:
            raise ValueError(f"unknown error class {error_class!r}")
        self.error_class: ErrorClass = error_class
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        return self.error_class in RETRYABLE

    def __reduce__(self) -> Any:
        # Pickled as (class, error class, final message, attributes): every subclass round-trips
        # whatever its own __init__ takes (a sandbox's error comes back from a Ray node this way).
        return _restore_attempt_error, (type(self), self.error_class, str(self), self.__dict__)


def _restore_attempt_error(cls: type[AttemptError], error_class: ErrorClass, message: str,
                           state: dict[str, Any]) -> AttemptError:  # fmt: skip
    exc = cls.__new__(cls)
    AttemptError.__init__(exc, error_class, message)
    exc.__dict__.update(state)
    return exc


class InfraError(AttemptError):
    """The environment failed: a clone, a venv, a container, the disk. Never the model's fault."""

    def __init__(self, message: str):
        super().__init__("infra", message)


class SourceIncomplete(InfraError):
    """The repository's source lacks files of a commit (a mirror missing old blobs): the row cannot
    be evaluated from it, which says nothing about the environment or the patch."""

    def __init__(self, message: str):
        super().__init__(f"source incomplete: {message}")


class IllegalTransition(RampError):
    """A state machine was asked for a transition DESIGN.md does not allow."""
