"""The HTML run report: one self-contained file.

Styles are inline and every plot is a base64 ``data:`` PNG, so the file opens offline, survives
being mailed or attached to a ticket, and needs no asset folder next to it.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from ..core.gates import TIERS
from .collect import RunReport, headline, pct
from .markdown import (
    INSTANCE_HEADER,
    PHASE_HEADER,
    PLOT_TITLES,
    instance_rows,
    meta_line,
    phase_rows,
)

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #1c2833; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #d5d8dc; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #d5d8dc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f6f7; }
.tier { font-weight: 600; padding: 0 .4em; border-radius: 3px; color: white; }
.STOP { background: #c0392b; } .CAUTION { background: #e67e22; } .PROCEED { background: #2e86c1; }
.EXCELLENT { background: #27ae60; }
figure { margin: 1em 0; } img { max-width: 100%; }
code { background: #f4f6f7; padding: 0 .2em; }
"""


def _table(header: list[str], rows: list[list[Any]], html_columns: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f"<td>{cell if i in html_columns else escape(str(cell))}</td>" for i, cell in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _tier(tier: str) -> str:
    return f'<span class="tier {escape(tier)}">{escape(tier)}</span>' if tier in TIERS else escape(tier)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(report: RunReport, plots: dict[str, bytes]) -> str:
    m = report.metrics
    phases = [[*row[:5], _tier(row[5]), *row[6:]] for row in phase_rows(report)]
    phases = [[cell if i == 5 else escape(str(cell)) for i, cell in enumerate(row)] for row in phases]
    figures = "".join(
        f'<figure><img alt="{escape(PLOT_TITLES[name])}" src="{data_uri(png)}"></figure>' for name, png in plots.items()
    )
    repos = [[repo, r["instances"], r["scored"], r["resolved"], pct(r["resolved_rate"])] for repo, r in m["per_repo"].items()]
    errors = (
        _table(["Class", "Attempts"], [list(item) for item in sorted(m["errors_by_class"].items())])
        if m["errors_by_class"] else "<p>No errors.</p>"
    )
    meta = escape(meta_line(report).replace("**", "").replace("`", ""))
    sections = [
        f"<h1>Ramp report: {escape(report.run_id)}</h1>",
        f"<p>{meta}</p>",
        "<h2>Summary</h2>", _table(["Metric", "Value"], [list(row) for row in headline(m)]),
        "<h2>Phases and gates</h2>", _table(PHASE_HEADER, phases, frozenset(range(len(PHASE_HEADER)))),
        "<h2>Plots</h2>", figures,
        "<h2>Per repository</h2>", _table(["Repository", "Instances", "Scored", "Resolved", "Rate"], repos),
        "<h2>Errors by class</h2>", errors,
        "<h2>Instances</h2>", _table(INSTANCE_HEADER, instance_rows(report)),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Ramp report {escape(report.run_id)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>\n"
    )
