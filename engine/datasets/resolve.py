"""One entry point from a ``--dataset`` spec to validated rows: :func:`resolve_dataset`.

The spec is one of:

- ``bundled``: the project's own offline task set, built into local git mirrors;
- a path ending in .json, .jsonl or .parquet;
- a Hugging Face name ``owner/name[:split]`` (split defaults to ``test``), loaded at the revision
  pinned in the dataset lock and refused if its content no longer matches the lock.

Whatever the source, the caller gets a :class:`Dataset`: the valid rows, the problems found in the
others, where the rows came from, their content hash (for the run manifest), and, for the bundled
set, the repo-source template that points each repository at its local mirror.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from ..core.errors import DatasetError
from . import hub
from .loaders import (
    FILE_SUFFIXES,
    OnMalformed,
    RowProblem,
    enforce_policy,
    read_file,
    validate_rows,
)
from .lock import LOCAL_REVISION, LockEntry, check_lock, content_sha256, locked_entry
from .rows import SWEInstance

BUNDLED = "bundled"


class Dataset(BaseModel):
    """Validated rows and everything a run records about where they came from."""

    spec: str = Field(description="The spec as given: 'bundled', a file path, or owner/name[:split].")
    source: str = Field(description="Human-readable description of where the rows were read.")
    rows: list[SWEInstance] = Field(description="The valid rows, in source order.")
    problems: list[RowProblem] = Field(
        default_factory=list, description="Rows left out as malformed (policy 'skip')."
    )
    lock_entry: LockEntry | None = Field(
        default=None, description="The lock entry the rows were checked against (Hub datasets)."
    )
    sha256: str = Field(description="content_sha256 of the rows: identifies the data in manifests.")
    repo_source: str | None = Field(
        default=None,
        description="Repo-source URL template the rows need (bundled: their local mirrors); "
        "None means the default or the operator's --repo-source.",
    )


def resolve_dataset(
    spec: str,
    *,
    lock_path: Path | str | None,
    cache_dir: Path | str,
    on_malformed: OnMalformed = "skip",
    local_root: Path | str | None = None,
) -> Dataset:
    """Load and validate the dataset named by ``spec`` (see the module docstring).

    ``lock_path`` (config/dataset.lock) is required for Hugging Face names. ``cache_dir`` holds
    the bundled mirrors and the ``datasets`` arrow cache. ``local_root`` overrides
    ``RAMP_HF_DATASETS_DIR``. Raises DatasetError with the fix when the data cannot be used.
    """
    cache_dir = Path(cache_dir)
    if spec == BUNDLED:
        return _resolve_bundled(cache_dir)
    if spec.lower().endswith(FILE_SUFFIXES):
        return _resolve_file(spec, on_malformed)
    if Path(spec).exists() or not hub.looks_like_hub_name(spec):
        raise DatasetError(
            f"cannot tell what dataset {spec!r} is; expected 'bundled', a path ending in "
            f"{', '.join(FILE_SUFFIXES)}, or a Hugging Face name such as "
            "princeton-nlp/SWE-bench_Lite:dev",
            field="dataset",
        )
    return _resolve_hub(spec, lock_path, cache_dir, on_malformed, local_root)


def _resolve_bundled(cache_dir: Path) -> Dataset:
    from .bundled import build_bundled

    rows, template = build_bundled(cache_dir)
    return Dataset(
        spec=BUNDLED,
        source=f"bundled task set ({len(rows)} tasks, mirrors under {cache_dir / 'bundled'})",
        rows=rows,
        sha256=content_sha256(rows),
        repo_source=template,
    )


def _resolve_file(spec: str, on_malformed: OnMalformed) -> Dataset:
    path = Path(spec).expanduser()
    raw_rows, problems = read_file(path)
    rows, row_problems = validate_rows(raw_rows, str(path))
    problems += row_problems
    enforce_policy(problems, on_malformed, str(path))
    return Dataset(
        spec=spec,
        source=f"file {path.resolve()}",
        rows=rows,
        problems=problems,
        sha256=content_sha256(rows),
    )


def _resolve_hub(
    spec: str,
    lock_path: Path | str | None,
    cache_dir: Path,
    on_malformed: OnMalformed,
    local_root: Path | str | None,
) -> Dataset:
    name, split = hub.parse_hub_spec(spec)
    if lock_path is None:
        raise DatasetError(
            f"{name}:{split} is a Hugging Face dataset, which needs a dataset lock "
            "(config/dataset.lock) to pin its revision",
            field="lock_path",
        )
    entry = locked_entry(lock_path, name, split)
    local = hub.local_copy(name, local_root)
    if local is None and entry.revision == LOCAL_REVISION:
        raise DatasetError(
            f"{entry.key} was locked from a local copy, with no Hub revision; set "
            f"{hub.LOCAL_DIR_ENV} to that copy, or re-run `ramp dataset lock {entry.key}` online",
            file=str(lock_path),
        )
    loaded = hub.load_split(
        name,
        split,
        revision=entry.revision,
        cache_dir=cache_dir / "hf-datasets",
        local_root=local_root,
    )
    source = f"{name}:{split}"
    rows, problems = validate_rows(loaded.rows, source)
    enforce_policy(problems, on_malformed, source)
    sha256 = check_lock(entry, rows, lock_path)
    return Dataset(
        spec=spec,
        source=f"Hugging Face {source} from {loaded.origin}",
        rows=rows,
        problems=problems,
        lock_entry=entry,
        sha256=sha256,
    )
