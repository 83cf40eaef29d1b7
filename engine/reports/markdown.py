"""The Markdown run report: readable in a terminal, a pull request or a wiki.

Markdown cannot embed images portably, so the plots are written as PNG files next to the report
and linked by relative path; the HTML report is the single self-contained file.
"""

from __future__ import annotations

import time
from typing import Any

from ..results.projections import describe
from .collect import RunReport, ci, headline, pct, phase_label, usd

PLOT_TITLES = {
    "phases": "Resolved rate per phase",
    "distributions": "Cost, latency and time distributions",
    "repos": "Resolved rate per repository",
}


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def phase_rows(report: RunReport) -> list[list[Any]]:
    rows = []
    for phase in report.phases:
        m = phase["metrics"]
        decision = f"{phase['decision']} ({phase['decided_by']})" if phase["decision"] else "-"
        rows.append([
            phase_label(phase), phase["size"], m["scored"], pct(m["resolved_rate"]), ci(m),
            phase["tier"] or "-", phase["rule"] or "-", decision,
            describe(phase["projection"]) if phase["projection"] else "-",
        ])
    return rows


PHASE_HEADER = ["Phase", "Size", "Scored", "Resolved", "95% CI", "Verdict", "Rule", "Decision", "Next phase"]
INSTANCE_HEADER = ["Instance", "Repo", "Phase", "Outcome", "Attempts", "Errors", "Cost", "Agent s", "Eval s"]


def instance_rows(report: RunReport) -> list[list[Any]]:
    return [
        [r["instance_id"], r["repo"], r["phase"] + 1, r["outcome"], r["attempts"], ", ".join(r["errors"]) or "-",
         usd(r["cost_usd"]), f"{r['agent_s']:.1f}", f"{r['eval_s']:.1f}"]
        for r in report.instances
    ]


def meta_line(report: RunReport) -> str:
    run = report.run
    created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run["created_at"]))
    return (
        f"agent **{run['agent']}**, model **{run['model'] or '-'}**, evaluator {run['evaluator']}, "
        f"dataset `{run['dataset']}`; status **{run['status']}** (exit code {run['exit_code']}); "
        f"started {created}; artifacts `{report.folder}`"
    )


def render(report: RunReport, plot_links: dict[str, str]) -> str:
    m = report.metrics
    parts = [
        f"# Ramp report: {report.run_id}",
        meta_line(report),
        "## Summary",
        table(["Metric", "Value"], [list(row) for row in headline(m)]),
        "## Phases and gates",
        table(PHASE_HEADER, phase_rows(report)),
        "## Plots",
        *[f"![{PLOT_TITLES[name]}]({link})" for name, link in plot_links.items()],
        "## Per repository",
        table(["Repository", "Instances", "Scored", "Resolved", "Rate"],
              [[repo, r["instances"], r["scored"], r["resolved"], pct(r["resolved_rate"])] for repo, r in m["per_repo"].items()]),
        "## Errors by class",
        table(["Class", "Attempts"], sorted(m["errors_by_class"].items())) if m["errors_by_class"] else "No errors.",
        "## Instances",
        table(INSTANCE_HEADER, instance_rows(report)),
    ]
    return "\n\n".join(parts) + "\n"
