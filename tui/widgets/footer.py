"""The footer of every screen: Textual's, without the keys it leaks.

A footer recomposes whenever its screen's bindings change: a screen pushed over it or popped, or
the focus moved. Each key it composes binds its ``compact`` to the footer's (``data_bind``), which
puts the key on the footer's watcher list. Textual prunes that list only when ``compact`` itself
changes (Textualize/textual#6666), and in Ramp it never does. So the dashboard's footer kept every
key it had ever drawn, with their render caches: about 25 keys and 6-8 k objects for each detail
opened and closed. Full garbage collections grew with them, to 100-200 ms after 20-40 details, and a
keypress that met one waited as long.

And most of those recomposes drew the same keys again: returning to the dashboard, moving the focus
within a screen. Each one built 25 keys and styled each a few times, two throwaway nodes per styling
(Textual's component classes): about 14,000 objects of cyclic garbage for each detail opened and
closed, which only a full collection frees. So the footer recomposes only when what it shows changed.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer


class RampFooter(Footer):
    def __init__(self, *, compact: bool = False) -> None:
        super().__init__(compact=compact)
        self._drawn: list[tuple[Binding, bool, str]] | None = None

    def _shows(self, screen: Screen[Any]) -> list[tuple[Binding, bool, str]]:
        """What the footer draws from ``screen``'s bindings: each binding, whether it is enabled, its tooltip."""
        return [(active.binding, active.enabled, active.tooltip) for active in screen.active_bindings.values()]

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._drawn = self._shows(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self._drawn is not None and self._bindings_ready and self._shows(screen) == self._drawn:
            return
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        await super().recompose()
        prune_watchers(self)


def prune_watchers(node: DOMNode) -> int:
    """Drop the watchers of ``node``'s reactives whose owners were removed; returns how many.

    Textual keeps them in the ``__watchers`` attribute (a name it sets with ``setattr``, so not
    mangled) as ``{reactive name: [(owner, callback), ...]}``, and drops an entry only when that
    reactive next changes, by the same ``_closing`` test.
    """
    dropped = 0
    for entries in (getattr(node, "__watchers", None) or {}).values():
        kept = [(owner, callback) for owner, callback in entries if not owner._closing]
        dropped += len(entries) - len(kept)
        entries[:] = kept
    return dropped
