"""Per-run metrics kept in the store, so the leaderboard and reports do not recompute every run.

A run's metrics are a function of its rows and its baseline run's rows. They are kept in the run's
row with a fingerprint of both (:meth:`engine.store.Store.run_fingerprint`, a handful of indexed
lookups) and reused while it matches; a run still going, or one resumed, re-graded or given a newer
baseline, changes its fingerprint and is computed again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .metrics import baseline_of, run_metrics

if TYPE_CHECKING:
    from ..store import Store


async def cached_metrics(store: Store, run: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`run_metrics` of ``run`` (its row; ``runs``: every run's row, as ``list_runs`` gives
    them), from the store's copy when neither the run nor its baseline changed since it was
    computed (their fingerprints, :meth:`Store.run_fingerprint`), otherwise computed and kept."""
    base = baseline_of(run, json.loads(run["config_json"] or "{}"), runs)
    known = {r["run_id"] for r in runs}
    fingerprint = json.dumps([await store.run_fingerprint(run["run_id"]), base,
                              await store.run_fingerprint(base) if base is not None and base in known else None])  # fmt: skip
    saved = json.loads(run.get("metrics_json") or "null")
    if saved and saved.get("fingerprint") == fingerprint:
        return dict(saved["metrics"])
    metrics = await run_metrics(store, run["run_id"])
    await store.save_metrics(run["run_id"], fingerprint, metrics)
    return metrics
