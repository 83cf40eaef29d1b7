"""The leaderboard: every run in the store, ranked, each row traceable to its run and artifacts.

Rows are recomputed from the store with the same metrics the gates and reports use, so a number on
the leaderboard is the number in the run's report. Ranking is by resolved rate, then by the lower
bound of its 95% interval (a rate measured on more instances ranks above the same rate on fewer).
Runs on different datasets are listed together but the dataset is a column: compare within one.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from .artifacts import safe_name
from .metrics import gate_summary, run_metrics

if TYPE_CHECKING:
    from .store import Store

COLUMNS = (
    "rank", "run_id", "agent", "model", "dataset", "status", "instances", "scored", "resolved",
    "resolved_rate", "ci_low", "ci_high", "pass_at_1", "baseline_spread", "infra_failures",
    "cost_usd", "cost_per_instance", "last_verdict", "folder",
)


async def leaderboard_rows(store: Store, runs_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for run in await store.list_runs():
        metrics = await run_metrics(store, run["run_id"])
        gates = [g for g in gate_summary(await store.phases(run["run_id"])) if g["tier"]]
        rows.append({
            "run_id": run["run_id"], "agent": run["agent"], "model": run["model"], "dataset": run["dataset"],
            "status": run["status"],
            **{k: metrics[k] for k in ("instances", "scored", "resolved", "resolved_rate", "ci_low", "ci_high",
                                       "pass_at_1", "baseline_spread", "infra_failures", "cost_usd",
                                       "cost_per_instance")},
            "last_verdict": f"phase {gates[-1]['phase'] + 1}: {gates[-1]['tier']}" if gates else None,
            "folder": str(Path(runs_dir) / safe_name(run["run_id"])),
        })
    rows.sort(key=lambda r: (r["resolved_rate"] is None, -(r["resolved_rate"] or 0), -(r["ci_low"] or 0)))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return [{k: row[k] for k in COLUMNS} for row in rows]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


def to_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def print_table(rows: list[dict[str, Any]], runs_dir: Path, console: Console | None = None) -> None:
    table = Table(
        title="Ramp leaderboard", title_justify="left",
        caption=f"artifacts: {Path(runs_dir)}/<run_id>/ (report: ramp report RUN_ID)", caption_justify="left",
    )
    for name, justify in (("#", "right"), ("run", "left"), ("agent / model", "left"), ("resolved", "right"),
                          ("95% CI", "right"), ("pass@1", "right"), ("vs base", "right"), ("infra", "right"),
                          ("$/inst", "right"), ("verdict", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in rows:
        ci = "-" if r["ci_low"] is None else f"{100 * r['ci_low']:.0f}-{100 * r['ci_high']:.0f}%"
        spread = "-" if r["baseline_spread"] is None else f"{100 * r['baseline_spread']:+.1f}pt"
        table.add_row(
            str(r["rank"]), f"{r['run_id']}\n[dim]{r['status']}[/]",
            f"{r['agent']} / {r['model'] or '-'}\n[dim]{r['dataset']}[/]",
            f"{r['resolved']}/{r['scored']}\n{_pct(r['resolved_rate'])}", ci, _pct(r["pass_at_1"]), spread,
            str(r["infra_failures"]), "-" if r["cost_per_instance"] is None else f"${r['cost_per_instance']:.2f}",
            r["last_verdict"] or "-",
        )
    (console or Console()).print(table)
