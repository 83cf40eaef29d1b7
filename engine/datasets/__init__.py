"""Datasets: SWE-bench rows from files, the Hugging Face Hub or the bundled task set, and selection.

``resolve_dataset(spec, ...)`` is the one way in; ``select(rows, ...)`` picks a run's instances in
phase order; ``lock_dataset(spec, lock_path)`` pins a Hub dataset for ``ramp dataset lock``.
Importing this package is cheap: ``datasets`` and ``pyarrow`` are imported only when needed.
"""

from .loaders import ON_MALFORMED, OnMalformed, RowProblem
from .lock import LockEntry, LockFile, content_sha256, lock_dataset, read_lock
from .resolve import BUNDLED, Dataset, resolve_dataset
from .rows import SWEBENCH_FIELDS, SWEInstance
from .selection import InstanceSlice, load_slice, select, stratified_order

__all__ = [
    "BUNDLED",
    "ON_MALFORMED",
    "SWEBENCH_FIELDS",
    "Dataset",
    "InstanceSlice",
    "LockEntry",
    "LockFile",
    "OnMalformed",
    "RowProblem",
    "SWEInstance",
    "content_sha256",
    "load_slice",
    "lock_dataset",
    "read_lock",
    "resolve_dataset",
    "select",
    "stratified_order",
]
