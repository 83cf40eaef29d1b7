"""Progress from deep inside a backend, without threading a callback through every call.

The attempt runner sets :data:`reporter` (a context variable, through :func:`reporting`) around a
sandbox's preparation and an evaluation; code far below
it (an environment build step, a wait for another attempt's build) calls :func:`report`, which
reaches that attempt's reporter, or does nothing when none is set (``ramp validate``, tests).
Tasks inherit the context, so concurrent evaluations each report to their own attempt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Report = Callable[[str, str], Awaitable[None]]

reporter: ContextVar[Report | None] = ContextVar("ramp_progress_reporter", default=None)


@contextmanager
def reporting(to: Report) -> Iterator[None]:
    """Within this block, :func:`report` reaches ``to``."""
    token = reporter.set(to)
    try:
        yield
    finally:
        reporter.reset(token)


async def report(name: str, detail: str = "") -> None:
    """Say what the current attempt's evaluation is doing (``env install``, ``tests``)."""
    if (current := reporter.get()) is not None:
        await current(name, detail)


#: The step that names the node doing an attempt's work (``--executor ray``): its sub-state, and the
#: wording of its summary ("evaluating on node 10.0.0.2/5d8946b5"), which the TUI reads back.
NODE_STEP = "node"
_ON_NODE = " on node "


def node_summary(doing: str, node: str) -> str:
    """The summary of a node step: what is being done, on which node."""
    return f"{doing}{_ON_NODE}{node}"


def node_of(summary: str) -> tuple[str, str] | None:
    """``(doing, node)`` from a node step's summary, or None for any other text."""
    doing, on, node = summary.partition(_ON_NODE)
    return (doing, node) if on else None
