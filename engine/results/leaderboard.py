"""The leaderboard: every run in the store, ranked, each row traceable to its run and artifacts.

Rows come from the store with the same metrics the gates and reports use, so a number on the
leaderboard is the number in the run's report; a run's metrics are recomputed only when its rows or
its baseline's changed since they were last kept (``cached_metrics``). Ranking is by resolved rate, then by the lower
bound of its 95% interval (a rate measured on more instances ranks above the same rate on fewer).
Runs on different datasets are listed together but the dataset is a column: compare within one.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.artifacts import safe_name
from .metricscache import cached_metrics

if TYPE_CHECKING:  # rich: only for printing the table, not for a run's summary
    from rich.console import Console

    from ..store import Store

COLUMNS = (
    "rank", "run_id", "agent", "model", "dataset", "status", "instances", "scored", "resolved",
    "resolved_rate", "ci_low", "ci_high", "pass_at_1", "baseline_spread", "infra_failures",
    "cost_usd", "cost_per_instance", "last_verdict", "folder",
)


async def leaderboard_rows(store: Store, runs_dir: Path) -> list[dict[str, Any]]:
    rows = []
    runs = await store.list_runs()
    for run in runs:
        metrics = await cached_metrics(store, run, runs)
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


def gate_summary(phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each phase's size, verdict and decision, from the phases rows."""
    out = []
    for row in phases:
        verdict = json.loads(row["verdict_json"]) if row["verdict_json"] else {}
        out.append({
            "phase": row["phase"], "size": row["size"], "name": row["name"], "status": row["status"],
            "tier": row["tier"], "rule": verdict.get("rule"), "decision": row["decision"],
            "decided_by": row["decided_by"],
        })
    return out


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


#: Below this many columns the table stacks related figures into one cell instead of wrapping run ids,
#: model names and headers into slivers (80 columns over SSH is the common case).
COMPACT_BELOW = 120
#: Output that is not a terminal (cron logs, pipes) is not squeezed into 80 columns.
PIPE_WIDTH = 160


def print_table(rows: list[dict[str, Any]], runs_dir: Path, console: Console | None = None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal and console.width < PIPE_WIDTH and "COLUMNS" not in os.environ:
            console.width = PIPE_WIDTH
    compact = console.width < COMPACT_BELOW
    table = Table(
        title="Ramp leaderboard", title_justify="left", box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
        caption=f"artifacts: {Path(runs_dir)}/<run_id>/ (report: ramp report RUN_ID)", caption_justify="left",
    )
    stacked = {"resolved": ("resolved", "95% CI"), "pass@1": ("pass@1", "vs base"), "infra": ("infra", "$/inst")}
    columns = ["#", "run", "agent / model", "resolved", "95% CI", "pass@1", "vs base", "infra", "$/inst", "verdict"]
    if compact:  # stacked figures share their first column's cell; the verdict goes under the run
        below = {part for parts in stacked.values() for part in parts[1:]} | {"verdict"}
        columns = [c for c in columns if c not in below]
    ratios = {"run": 3, "agent / model": 2, "verdict": 2}
    for name in columns:
        header = "\n".join(stacked[name]) if compact and name in stacked else name
        table.add_column(header, justify="left" if name in ratios else "right",
                         overflow="fold", no_wrap=name not in ratios, ratio=ratios.get(name))
    for r in rows:
        cells = {
            "#": str(r["rank"]),
            "run": f"{r['run_id']}\n[dim]{r['status']}[/]",
            "agent / model": f"{r['agent']} / {r['model'] or '-'}\n[dim]{r['dataset']}[/]",
            "resolved": f"{r['resolved']}/{r['scored']}\n{_pct(r['resolved_rate'])}",
            "95% CI": "-" if r["ci_low"] is None else f"{100 * r['ci_low']:.0f}-{100 * r['ci_high']:.0f}%",
            "pass@1": _pct(r["pass_at_1"]),
            "vs base": "-" if r["baseline_spread"] is None else f"{100 * r['baseline_spread']:+.1f}pt",
            "infra": str(r["infra_failures"]),
            "$/inst": "-" if r["cost_per_instance"] is None else f"${r['cost_per_instance']:.2f}",
            "verdict": r["last_verdict"] or "-",
        }
        if compact:
            for name, parts in stacked.items():
                cells[name] = "\n".join(cells[part] for part in parts)
            cells["run"] += f"\n{cells['verdict']}"
        table.add_row(*(cells[name] for name in columns))
    console.print(table)
