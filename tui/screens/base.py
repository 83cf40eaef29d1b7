"""The base of the app's screens: ``self.ramp`` is the app, typed (Textual types ``self.app`` as
any App)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from ..app import RampApp


class RampScreen(Screen[None]):
    @property
    def ramp(self) -> RampApp:
        return cast("RampApp", self.app)
