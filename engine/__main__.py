"""`python -m engine` is the `ramp` command."""

import sys

from .cli import leaving, main

sys.exit(leaving(main()))
