"""config/dataset.lock: the exact data a Hugging Face dataset name stood for when it was pinned.

An evaluation compared across weeks is only meaningful on the same rows. ``ramp dataset lock NAME``
(:func:`lock_dataset`) records, per dataset and split, the Hub revision and a hash of the content;
every later run loads that revision and refuses data whose hash or row count no longer matches
(:func:`check_lock`), whichever way the data arrived (the Hub, its cache, or a local copy).

The lock is JSON, one entry per ``name:split``, so a changed pin shows as a small diff in review::

    {
      "version": 1,
      "datasets": {
        "princeton-nlp/SWE-bench_Lite:test": {
          "name": "princeton-nlp/SWE-bench_Lite",
          "split": "test",
          "revision": "<commit sha on the Hub, or 'local' for an unpinned local copy>",
          "retrieved_at": "2025-06-02T12:00:00Z",
          "rows": 300,
          "sha256": "<content hash, see content_sha256>"
        }
      }
    }
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from ..core.errors import DatasetError
from . import hub
from .loaders import OnMalformed, enforce_policy, validate_rows
from .rows import SWEInstance, TaskRow

#: Recorded as the revision of a local copy locked without an explicit revision.
LOCAL_REVISION = "local"


def content_sha256(rows: Iterable[TaskRow]) -> str:
    """The hash of a dataset's content, independent of row order and of the file format.

    Canonical form: the rows sorted by instance_id, each as :meth:`TaskRow.to_row` (SWE-bench rows in upstream format),
    serialised as one JSON list with sorted keys, no whitespace and UTF-8 text.
    """
    ordered = sorted((row.to_row() for row in rows), key=lambda r: r["instance_id"])
    canonical = json.dumps(ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class LockEntry(BaseModel):
    """The pin of one split of one Hugging Face dataset."""

    name: str = Field(description="Hub dataset name, owner/name.")
    split: str = Field(description="The split, e.g. test or dev.")
    revision: str = Field(description="Hub commit sha the rows were read at ('local': a copy).")
    retrieved_at: str = Field(description="When the lock was written (UTC, ISO 8601).")
    rows: int = Field(ge=0, description="Number of valid rows.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="content_sha256 of the valid rows.")

    @property
    def key(self) -> str:
        return f"{self.name}:{self.split}"


class LockFile(BaseModel):
    """The whole lock file."""

    version: Literal[1] = Field(default=1, description="Format version of this file.")
    datasets: dict[str, LockEntry] = Field(
        default_factory=dict, description="Entries keyed by 'name:split'."
    )


def read_lock(lock_path: Path | str, *, missing_ok: bool = False) -> LockFile:
    """Read and validate the lock; a missing file is an empty lock only when ``missing_ok``."""
    path = Path(lock_path)
    if not path.exists():
        if missing_ok:
            return LockFile()
        raise DatasetError(
            "no dataset lock; run `ramp dataset lock NAME:SPLIT` to pin the dataset first",
            file=str(path),
        )
    try:
        return LockFile.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise DatasetError(
            f"unreadable dataset lock ({exc}); fix it by hand or delete it and re-run "
            "`ramp dataset lock`",
            file=str(path),
        ) from exc


def write_lock(lock_path: Path | str, lock: LockFile) -> None:
    """Write the lock atomically, so a crash never leaves half a file behind."""
    path = Path(lock_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(lock.model_dump(), indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def lock_dataset(
    spec: str,
    lock_path: Path | str,
    revision: str | None = None,
    *,
    cache_dir: Path | None = None,
    local_root: Path | str | None = None,
    on_malformed: OnMalformed = "skip",
) -> LockEntry:
    """Pin ``owner/name[:split]`` at ``revision`` (default: the Hub's current main) in the lock.

    Loads the split, hashes its valid rows and writes or replaces its entry, keeping the others.
    With a local copy (``RAMP_HF_DATASETS_DIR``) the Hub is not asked; the revision is recorded as
    given, or as ``local``.
    """
    name, split = hub.parse_hub_spec(spec)
    if hub.local_copy(name, local_root) is not None:
        pinned = revision or LOCAL_REVISION
    else:
        pinned = hub.current_revision(name, revision)
    loaded = hub.load_split(
        name, split, revision=pinned, cache_dir=cache_dir, local_root=local_root
    )
    rows, problems = validate_rows(loaded.rows, f"{name}:{split}", SWEInstance)
    enforce_policy(problems, on_malformed, f"{name}:{split}")
    entry = LockEntry(
        name=name,
        split=split,
        revision=pinned,
        retrieved_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        rows=len(rows),
        sha256=content_sha256(rows),
    )
    lock = read_lock(lock_path, missing_ok=True)
    lock.datasets[entry.key] = entry
    write_lock(lock_path, lock)
    return entry


def locked_entry(lock_path: Path | str, name: str, split: str) -> LockEntry:
    """The entry pinning ``name:split``; refuses an unpinned dataset with the command that pins it."""
    lock = read_lock(lock_path)
    key = f"{name}:{split}"
    if key not in lock.datasets:
        pinned = ", ".join(sorted(lock.datasets)) or "none"
        raise DatasetError(
            f"{key} is not pinned (pinned: {pinned}); run `ramp dataset lock {key}` first",
            file=str(lock_path),
        )
    return lock.datasets[key]


def check_lock(entry: LockEntry, rows: list[SWEInstance], lock_path: Path | str) -> str:
    """Refuse rows that are not the locked content; return their sha256 when they are."""
    actual = content_sha256(rows)
    if actual == entry.sha256 and len(rows) == entry.rows:
        return actual
    raise DatasetError(
        f"{entry.key} no longer matches its lock (revision {entry.revision}, locked "
        f"{entry.retrieved_at}): expected {entry.rows} rows with sha256 {entry.sha256}, got "
        f"{len(rows)} rows with sha256 {actual}. If the new data is intended, re-run "
        f"`ramp dataset lock {entry.key}` and commit the lock; otherwise restore the data",
        file=str(lock_path),
    )
