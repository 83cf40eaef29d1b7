"""One entry point from a ``--dataset`` spec to validated rows: :func:`resolve_dataset`.

The spec is one of:

- ``bundled``: the project's own offline task set, built into local git mirrors;
- a path ending in .json, .jsonl or .parquet;
- ``humaneval``, ``humaneval:PATH`` or ``mbpp:PATH``: function-completion problems (completion.py),
  as is a .json/.jsonl file whose rows are completion problems;
- ``suite:PATH``: a custom task suite (suite.py), cut to ``split`` (all, tune or heldout) by a
  split seeded with ``seed``;
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
from .completion import CompletionProblem, completion_source, looks_like_completion
from .loaders import (
    FILE_SUFFIXES,
    OnMalformed,
    RowProblem,
    enforce_policy,
    read_file,
    validate_rows,
)
from .lock import LOCAL_REVISION, LockEntry, check_lock, content_sha256, locked_entry
from .rows import SWEInstance, TaskRow
from .suite import SUITE, SuiteTask, apply_split

BUNDLED = "bundled"


class Dataset(BaseModel):
    """Validated rows and everything a run records about where they came from."""

    spec: str = Field(description="The spec as given: 'bundled', a file path, or owner/name[:split].")
    source: str = Field(description="Human-readable description of where the rows were read.")
    rows: list[TaskRow] = Field(description="The valid rows, in source order.")
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
    family: str = Field(default=SWEInstance.family, description="The rows' task family (swebench, completion).")


def resolve_dataset(
    spec: str,
    *,
    lock_path: Path | str | None,
    cache_dir: Path | str,
    on_malformed: OnMalformed = "skip",
    local_root: Path | str | None = None,
    split: str = "all",
    seed: int = 0,
    heldout_share: float = 0.2,
) -> Dataset:
    """Load and validate the dataset named by ``spec`` (see the module docstring).

    ``lock_path`` (config/dataset.lock) is required for Hugging Face names. ``cache_dir`` holds
    the bundled mirrors and the ``datasets`` arrow cache. ``local_root`` overrides
    ``RAMP_HF_DATASETS_DIR``. Raises DatasetError with the fix when the data cannot be used.
    """
    cache_dir = Path(cache_dir)
    if spec == BUNDLED:
        return _resolve_bundled(cache_dir)
    if spec.lower().startswith(f"{SUITE}:"):
        return _resolve_suite(spec, on_malformed, split=split, seed=seed, share=heldout_share)
    if (completion := completion_source(spec)) is not None:
        return _resolve_file(str(completion[1]), on_malformed, spec=spec)
    if spec.lower().endswith(FILE_SUFFIXES):
        return _resolve_file(spec, on_malformed)
    if Path(spec).exists() or not hub.looks_like_hub_name(spec):
        raise DatasetError(
            f"cannot tell what dataset {spec!r} is; expected 'bundled', 'humaneval', 'mbpp:PATH', "
            f"a path ending in {', '.join(FILE_SUFFIXES)}, or a Hugging Face name such as "
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
        rows=list(rows),
        sha256=content_sha256(rows),
        repo_source=template,
    )


def _resolve_file(path_text: str, on_malformed: OnMalformed, spec: str | None = None) -> Dataset:
    """The rows of a file; ``spec`` (humaneval, mbpp:PATH) says they are completion problems,
    otherwise their fields do."""
    path = Path(path_text).expanduser()
    raw_rows, problems = read_file(path)
    kind: type[TaskRow] = (
        CompletionProblem if spec is not None or looks_like_completion(raw_rows) else SWEInstance
    )
    rows, row_problems = validate_rows(raw_rows, str(path), kind)
    problems += row_problems
    enforce_policy(problems, on_malformed, str(path))
    return Dataset(
        spec=spec or path_text,
        source=f"file {path.resolve()}",
        rows=list(rows),
        problems=problems,
        sha256=content_sha256(rows),
        family=kind.family,
    )


def _resolve_suite(spec: str, on_malformed: OnMalformed, *, split: str, seed: int, share: float) -> Dataset:
    path = Path(spec.split(":", 1)[1]).expanduser()
    if not spec.split(":", 1)[1]:
        raise DatasetError("give the suite's file: --dataset suite:PATH (one JSON task per line)", field="dataset")
    raw_rows, problems = read_file(path)
    tasks, row_problems = validate_rows(raw_rows, str(path), SuiteTask)
    problems += row_problems
    enforce_policy(problems, on_malformed, str(path))
    chosen = apply_split(tasks, seed=seed, share=share, part=split)
    part = "" if split == "all" else f", the {split} part of a {round(share * 100)}% held-out split (seed {seed})"
    return Dataset(
        spec=spec, source=f"suite {path.resolve()}{part}", rows=list(chosen), problems=problems,
        sha256=content_sha256(chosen), family=SUITE,
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
    rows, problems = validate_rows(loaded.rows, source, SWEInstance)
    enforce_policy(problems, on_malformed, source)
    sha256 = check_lock(entry, rows, lock_path)
    return Dataset(
        spec=spec,
        source=f"Hugging Face {source} from {loaded.origin}",
        rows=list(rows),
        problems=problems,
        lock_entry=entry,
        sha256=sha256,
    )
