"""Hugging Face datasets by name and split, with a local stand-in for hosts without the Hub.

A Hub name alone is a moving target: a dataset repo can be re-uploaded under the same name. Ramp
therefore loads a name at the revision pinned in config/dataset.lock (see :mod:`.lock`) and checks
the content hash after loading.

Evaluation hosts are often offline. Two escape hatches, in order of preference:

- ``RAMP_HF_DATASETS_DIR`` (or the ``local_root`` argument) names a directory holding a copy of each
  dataset at ``<dir>/<owner>/<name>/``, in the layout ``datasets.load_dataset(<that dir>, split=...)``
  accepts; the Hub's own layout ``data/<split>-00000-of-00001.parquet`` (or ``.jsonl``) works as is.
  A copy cannot prove its revision, but the lock's content hash proves its data.
- ``HF_DATASETS_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) makes the ``datasets`` package serve the name
  from its local cache only; Ramp then cannot ask the Hub for a revision and says so.

``datasets`` takes about a second to import, so it is imported only when a Hub dataset is loaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, Field

from ..core.errors import DatasetError
from .loaders import RawRow

#: Environment variable naming the directory of local dataset copies.
LOCAL_DIR_ENV = "RAMP_HF_DATASETS_DIR"
DEFAULT_SPLIT = "test"
_NAME = re.compile(r"^[\w.-]+/[\w.-]+$")
_TRUE = {"1", "ON", "YES", "TRUE"}


def parse_hub_spec(spec: str) -> tuple[str, str]:
    """Split ``owner/name[:split]`` into (name, split); the split defaults to ``test``."""
    name, _, split = spec.partition(":")
    if not _NAME.match(name) or (split and not re.match(r"^[\w.-]+$", split)):
        raise DatasetError(
            f"{spec!r} is not a Hugging Face dataset name; expected owner/name or owner/name:split, "
            "e.g. princeton-nlp/SWE-bench_Lite:dev",
            field="dataset",
        )
    return name, split or DEFAULT_SPLIT


def looks_like_hub_name(spec: str) -> bool:
    return bool(_NAME.match(spec.partition(":")[0]))


def hub_offline() -> bool:
    """Whether the environment asks the Hugging Face libraries not to touch the network."""
    return any(
        os.environ.get(var, "").upper() in _TRUE for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
    )


def local_copy(name: str, local_root: Path | str | None = None) -> Path | None:
    """The local copy of ``name`` when a local root is configured, else None (use the Hub).

    A configured root that lacks the dataset is an error rather than a silent trip to the Hub:
    whoever set it expects this host to work offline.
    """
    root = local_root or os.environ.get(LOCAL_DIR_ENV)
    if not root:
        return None
    directory = Path(root) / name
    if not directory.is_dir():
        raise DatasetError(
            f"{LOCAL_DIR_ENV}={root} has no copy of {name}; put one at {directory}/ "
            "(e.g. data/<split>-00000-of-00001.parquet, as on the Hub) or unset "
            f"{LOCAL_DIR_ENV} to load from the Hugging Face Hub",
            field="dataset",
        )
    return directory


def current_revision(name: str, revision: str | None = None) -> str:
    """Ask the Hub which commit ``revision`` (a branch, tag or sha; default main) is now."""
    if hub_offline():
        raise DatasetError(
            f"cannot ask the Hub for the current revision of {name}: HF_DATASETS_OFFLINE or "
            f"HF_HUB_OFFLINE is set; pass an explicit revision, set {LOCAL_DIR_ENV}, or go online",
            field="revision",
        )
    from huggingface_hub import HfApi

    try:
        info = HfApi().dataset_info(name, revision=revision, timeout=30)
    except Exception as exc:  # the hub client raises many network and HTTP error types
        raise DatasetError(
            f"cannot resolve the revision of {name} on the Hub ({type(exc).__name__}: {exc}); "
            f"check the name and the network, or set {LOCAL_DIR_ENV} to a local copy",
            field="dataset",
        ) from exc
    if not info.sha:
        raise DatasetError(f"the Hub reported no commit for {name}@{revision}", field="revision")
    return info.sha


class HubRows(BaseModel):
    """The raw rows of one split, and where they really came from."""

    rows: list[RawRow] = Field(description="(location, row) pairs in the split's order.")
    origin: str = Field(description="Human-readable origin: the Hub revision or the local copy.")


def load_split(
    name: str,
    split: str,
    *,
    revision: str | None,
    cache_dir: Path | None = None,
    local_root: Path | str | None = None,
) -> HubRows:
    """Load one split through ``datasets.load_dataset``, from the local copy when there is one.

    ``cache_dir`` holds the ``datasets`` arrow cache (None: the library's default). ``revision`` is
    ignored for a local copy, whose content the caller checks against the lock instead.
    """
    directory = local_copy(name, local_root)
    import datasets

    datasets.disable_progress_bars()
    if directory is not None:
        target, kwargs, origin = str(directory), {}, f"local copy {directory}"
    else:
        target, kwargs = name, {"revision": revision}
        origin = f"the Hub at revision {revision or 'main'}" + (
            " (offline: local cache only)" if hub_offline() else ""
        )
    try:
        loaded = datasets.load_dataset(
            target, split=split, cache_dir=str(cache_dir) if cache_dir else None, **kwargs
        )
    except Exception as exc:  # datasets raises network, file, format and split errors alike
        fix = (
            f"check that {directory} holds data/{split}-*.parquet or .jsonl files"
            if directory
            else f"check the name and split, the network, or set {LOCAL_DIR_ENV} to a local copy"
        )
        raise DatasetError(
            f"cannot load {name}:{split} from {origin} ({type(exc).__name__}: {exc}); {fix}",
            field="dataset",
        ) from exc
    records = loaded.to_list()
    return HubRows(
        rows=[(f"row {number}", row) for number, row in enumerate(records, start=1)],
        origin=origin,
    )
