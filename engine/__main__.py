"""`python -m engine` is the `ramp` command."""

import sys

from .core import collector

collector.pause()  # this import's and the command's: see engine.core.collector; main() resumes it

from .cli import leaving, main  # noqa: E402

sys.exit(leaving(main()))
