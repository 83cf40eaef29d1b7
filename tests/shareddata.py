"""Where the real SWE-bench Lite rows are: ../shared/data beside the checkout, or $RAMP_SHARED_DATA.

They are read by path and never copied into the project. A clone elsewhere has no such folder, so
tests that need the rows skip, saying where they looked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lite_path(split: str) -> Path:
    """The SWE-bench Lite ``split`` file (dev or test); skips the calling test when it is absent."""
    root = Path(os.environ.get("RAMP_SHARED_DATA") or ROOT.parent / "shared" / "data")
    path = root / "swebench_lite" / f"{split}.jsonl"
    if not path.is_file():
        pytest.skip(f"SWE-bench Lite rows not found at {path} (set RAMP_SHARED_DATA)")
    return path
