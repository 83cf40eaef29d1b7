"""``python -m tui ...``: the ``ramp`` command with its terminal UI (see tui.cli)."""

from .cli import main

raise SystemExit(main())
