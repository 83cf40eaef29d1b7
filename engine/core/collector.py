"""Python's cyclic garbage collector while a run starts.

A run's start-up imports about 400 modules and builds their classes, pydantic models and compiled
patterns: objects that live as long as the process. Python's collector ran about 110 times over
them before the first model call (16 ms of a 0.25 s start-up) and found nothing to free. The
``ramp`` entry points pause it (:func:`pause`) before they import the engine; ``ramp run`` and
``ramp demo`` resume it (:func:`resume`) once their run is about to start, every other command as
soon as its arguments are parsed. What the start-up made is frozen first (moved where the
collector never looks again), so the run's own collections are cheaper too.

Only a pause this module made is resumed: a collector someone else disabled stays disabled.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop collecting until :func:`resume` (a no-op if the collector is already off)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what exists now and collect again, if :func:`pause` stopped the collector."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
