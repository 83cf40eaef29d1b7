"""Which instances a run evaluates: an explicit id list, a pinned slice file, or a stratified sample.

A ramp grows in phases (5 -> 10 -> 30 -> 100 -> 300) and each phase must contain the previous one,
so a selection is an *order*, and a phase of n instances is its first n rows.

:func:`stratified_order` orders all rows so that every prefix is a repo-stratified sample. Plain
largest-remainder (Hamilton) allocation cannot do this: growing n can take an instance away from a
repo (the Alabama paradox), which would break nesting. Instead the order is built as a schedule,
one slot at a time. A repo may take the next slot only if that keeps it within its upper quota
(the ceiling of its exact share ``n * size / total``); among those, the slot goes to the repo whose
lower quota (the floor of its share) would be missed soonest. Earliest-deadline-first finds such a
schedule whenever one exists, and one always exists (Tijdeman's "chairman assignment problem"), so
every prefix gives each repo the floor or the ceiling of its share, as largest remainder would, and
prefixes nest by construction. Ties between repos and the order inside each repo come from the seed,
per repo, so adding a repo to a dataset does not reshuffle the others.

Pinned slices live in ``config/instances/*.yaml``::

    name: bundled-smoke
    dataset: bundled
    description: optional free text
    instances: [ramp-bundled__moneyround-1, ...]
"""

from __future__ import annotations

import difflib
import hashlib
import random
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..core.errors import DatasetError
from ..core.yamlfile import read_yaml
from .rows import RowT


class InstanceSlice(BaseModel):
    """A pinned, ordered list of instance ids for one dataset (config/instances/<name>.yaml)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Short name, usually the file's stem.")
    dataset: str = Field(min_length=1, description="The dataset spec the ids belong to.")
    description: str = Field(default="", description="Why this slice exists.")
    instances: list[str] = Field(min_length=1, description="Instance ids, in phase order.")

    @field_validator("instances")
    @classmethod
    def _unique(cls, ids: list[str]) -> list[str]:
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return ids


def load_slice(path: Path | str) -> InstanceSlice:
    """Read a slice file; errors name the file and the field."""
    path = Path(path)
    raw = read_yaml(path, missing="pass an existing slice file (see config/instances/)", error=DatasetError)
    try:
        return InstanceSlice.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise DatasetError(
            f"{first['msg']}; expected keys name, dataset, instances (and optional description)",
            file=str(path),
            field=field,
        ) from exc


def _seeded_rank(seed: int, repo: str) -> str:
    return hashlib.sha256(f"{seed}\0{repo}".encode()).hexdigest()


def stratified_order(rows: Sequence[RowT], seed: int) -> list[RowT]:
    """All rows in an order whose every prefix is a repo-stratified sample (see module docstring).

    Deterministic for a given set of rows and seed, whatever the input order.
    """
    groups: dict[str, list[RowT]] = {}
    for row in sorted(rows, key=lambda r: r.instance_id):
        groups.setdefault(row.repo, []).append(row)
    for repo, members in groups.items():
        random.Random(f"{seed}\0{repo}").shuffle(members)
    repos = sorted(groups, key=lambda repo: _seeded_rank(seed, repo))
    total = len(rows)
    taken = dict.fromkeys(repos, 0)
    order: list[RowT] = []
    for size in range(1, total + 1):
        # A repo may grow when that keeps it within its upper quota: taken < size * share.
        open_repos = [r for r in repos if taken[r] * total < size * len(groups[r])]
        # Earliest deadline first: the prefix length at which the repo's lower quota would
        # exceed what it has. Ties go to the first repo in seeded order.
        repo = min(open_repos, key=lambda r: -(-(taken[r] + 1) * total // len(groups[r])))
        order.append(groups[repo][taken[repo]])
        taken[repo] += 1
    return order


def _unknown_ids_error(unknown: list[str], known: list[str], where: str | None) -> DatasetError:
    described = []
    for instance_id in unknown:
        close = difflib.get_close_matches(instance_id, known, n=3, cutoff=0.6)
        described.append(f"{instance_id} (did you mean {', '.join(close)}?)" if close else instance_id)
    return DatasetError(
        f"unknown instance id(s): {'; '.join(described)}. The dataset has {len(known)} instances; "
        "check the ids, or that the slice and --dataset refer to the same dataset",
        file=where,
        field="instances",
    )


def select(
    rows: Sequence[RowT],
    ids: Sequence[str] | None = None,
    slice_file: Path | str | None = None,
    n: int | None = None,
    seed: int = 0,
) -> list[RowT]:
    """The instances to run, in phase order; the first ``n`` of them when ``n`` is given.

    ``ids`` or ``slice_file`` pin the order (duplicates in ``ids`` are dropped); without them
    the order is :func:`stratified_order`. An ``n`` larger than the pool gives the whole pool.
    """
    if ids is not None and slice_file is not None:
        raise DatasetError("give either instance ids or a slice file, not both", field="instances")
    if n is not None and n < 0:
        raise DatasetError(f"cannot select {n} instances", field="n")
    where = None
    if slice_file is not None:
        where = str(slice_file)
        ids = load_slice(slice_file).instances
    if ids is None:
        chosen = stratified_order(rows, seed)
    else:
        by_id = {row.instance_id: row for row in rows}
        wanted = list(dict.fromkeys(ids))
        unknown = [i for i in wanted if i not in by_id]
        if unknown:
            raise _unknown_ids_error(unknown, sorted(by_id), where)
        chosen = [by_id[i] for i in wanted]
    return chosen if n is None else chosen[:n]
