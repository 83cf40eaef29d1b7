"""``ramp run --model a,b,...``: one run per catalog model, one after the other, then one table.

Each model gets its own run (``<run id>-<model>``), so everything else (resume, reports, compare,
the leaderboard) works per model as before. With several models the runs are headless, and at the
end this prints, from the store: per model its success rate with the Wilson interval, model-call
latency (mean, median, P90) and its go/no-go (the last gate's verdict: PROCEED or EXCELLENT is GO,
CAUTION is CAUTION, STOP is NO-GO); the success rate per category and model; and the tasks,
results and latency per provider (the account a model's calls go to). ``--json`` prints the same as
one last JSON line.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable
from typing import Any

import anyio

from ..core.artifacts import safe_name
from ..core.config import Settings
from ..frontend import launch
from ..models.catalog import load_catalog
from ..results.metrics import run_metrics
from ..run.wiring import check_run_id, new_run_id
from ..store import Store
from .collect import pct

GO = {"PROCEED": "GO", "EXCELLENT": "GO", "CAUTION": "CAUTION", "STOP": "NO-GO"}


def launch_each(args: argparse.Namespace, settings_for: Callable[[str | None], Settings]) -> int:
    """``ramp run``: one run, or with a comma-separated ``--model`` one run per model and a table."""
    models = [m.strip() for m in (args.model or "").split(",") if m.strip()]
    if len(models) <= 1:
        return launch(settings_for(None), args)
    # Every model's settings and run id, each loaded and checked once, before the first run starts.
    settings = {model: settings_for(model) for model in models}
    first = settings[models[0]]
    base = args.run_id or new_run_id(first.run.agent)
    run_ids = {model: f"{base}-{safe_name(model)}" for model in models}
    for run_id in run_ids.values():
        check_run_id(run_id)
    codes: dict[str, tuple[str, int]] = {}
    for model in models:
        one = copy.copy(args)
        one.model, one.run_id, one.headless = model, run_ids[model], True
        if not args.json:
            print(f"== model {model}: run {one.run_id}", flush=True)
        codes[model] = (one.run_id, launch(settings[model], one))
    table = anyio.run(lambda: model_table(first, codes))
    if args.json:
        print(json.dumps({"kind": "models", **table}, default=str), flush=True)
    else:
        print(render(table), flush=True)
    return max(code for _, code in codes.values())


async def model_table(settings: Settings, runs: dict[str, tuple[str, int]]) -> dict[str, Any]:
    catalog = load_catalog(settings.paths.models_file)
    rows: list[dict[str, Any]] = []
    categories: dict[str, dict[str, Any]] = {}
    providers: dict[str, dict[str, Any]] = {}
    async with Store(settings.paths.runs_dir / "ramp.sqlite") as store:
        for model, (run_id, code) in runs.items():
            m = await run_metrics(store, run_id)
            phases = await store.phases(run_id)
            tier = next((p["tier"] for p in reversed(phases) if p["tier"]), None)
            account = catalog.get(model).account_name if model in catalog.models else model
            rows.append({"model": model, "provider": account, "run_id": run_id, "exit_code": code,
                         "scored": m["scored"], "resolved": m["resolved"], "success": m["resolved_rate"],
                         "ci": [m["ci_low"], m["ci_high"]], "latency_mean_s": m["latency_mean_s"],
                         "latency_p50_s": m["latency_p50_s"], "latency_p90_s": m["latency_p90_s"],
                         "verdict": tier, "go": GO.get(tier or "", "no gate")})
            for category, c in (m.get("per_repo") or {}).items():
                categories.setdefault(category, {})[model] = c
            p = providers.setdefault(account, {"models": [], "scored": 0, "resolved": 0, "latencies": []})
            p["models"].append(model)
            p["scored"] += m["scored"]
            p["resolved"] += m["resolved"]
            if m["latency_p50_s"] is not None:
                p["latencies"].append(m["latency_p50_s"])
    for p in providers.values():
        p["success"] = p["resolved"] / p["scored"] if p["scored"] else None
        p["latency_p50_s"] = max(p.pop("latencies"), default=None)
    return {"runs": rows, "per_category": categories, "per_provider": providers}


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


def render(table: dict[str, Any]) -> str:
    head = f"{'model':<30} {'provider':<20} {'success (95% CI)':<33} {'latency mean / p50 / p90':<27} go/no-go"
    lines = ["", head]
    for r in table["runs"]:
        ci = "" if r["ci"][0] is None else f" [{pct(r['ci'][0])}, {pct(r['ci'][1])}]"
        success = f"{r['resolved']}/{r['scored']} {pct(r['success'])}{ci}"
        latency = f"{_s(r['latency_mean_s'])} / {_s(r['latency_p50_s'])} / {_s(r['latency_p90_s'])}"
        lines.append(f"{r['model'][:30]:<30} {r['provider'][:20]:<20} {success:<33} {latency:<27} "
                     f"{r['go']} ({r['verdict'] or '-'})")
    models = [r["model"] for r in table["runs"]]
    lines += ["", "per category: " + " | ".join(models)]
    for category, by_model in sorted(table["per_category"].items()):
        cells = [f"{c['resolved']}/{c['scored']} {pct(c['resolved_rate'])}" if (c := by_model.get(m)) else "-"
                 for m in models]
        lines.append(f"  {category[:28]:<28} " + " | ".join(cells))
    lines += ["", "per provider:"]
    for account, p in sorted(table["per_provider"].items()):
        lines.append(f"  {account[:28]:<28} {len(p['models'])} model(s), {p['resolved']}/{p['scored']} "
                     f"{pct(p['success'])}, slowest median latency {_s(p['latency_p50_s'])}")
    return "\n".join(lines)
