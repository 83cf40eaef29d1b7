"""`python -m engine` is the `ramp` command."""

import sys

from .cli import main

sys.exit(main())
