"""Report plots as PNG bytes, drawn with matplotlib's Agg canvas.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot), so nothing touches a
global backend or needs a display: a report can be written from cron or over SSH, and the HTML
report embeds the bytes as base64 so it opens offline with its plots.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..core.stats import percentile
from .collect import RunReport, phase_label

TIER_COLOURS = {"STOP": "#c0392b", "CAUTION": "#e67e22", "PROCEED": "#2e86c1", "EXCELLENT": "#27ae60", None: "#95a5a6"}


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _empty(axes: Any, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="#7f8c8d")
    axes.set_xticks([])
    axes.set_yticks([])


def phase_rates(report: RunReport) -> bytes:
    """Resolved rate after each phase with its Wilson 95% interval, coloured by the gate's tier."""
    figure = Figure(figsize=(7, 3.6))
    axes = figure.add_subplot()
    phases = [p for p in report.phases if p["metrics"]["resolved_rate"] is not None]
    if not phases:
        _empty(axes, "no scored instances yet")
    for index, phase in enumerate(phases):
        m = phase["metrics"]
        rate = m["resolved_rate"]
        axes.errorbar(
            index, rate, yerr=[[rate - m["ci_low"]], [m["ci_high"] - rate]], fmt="o", capsize=6,
            color=TIER_COLOURS.get(phase["tier"], TIER_COLOURS[None]), markersize=8, linewidth=2,
        )
        axes.annotate(
            f"{100 * rate:.0f}% {phase['tier'] or ''}".strip(), (index, rate), textcoords="offset points",
            xytext=(10, -4), fontsize=8,
        )
    if phases:
        axes.set_xticks(range(len(phases)))
        axes.set_xticklabels([f"{phase_label(p)}\nn={p['metrics']['scored']}" for p in phases])
        axes.set_xlim(-0.5, len(phases) - 0.5 + 0.4)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("resolved rate")
    axes.set_title("Resolved rate per phase (Wilson 95% CI)")
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def distributions(report: RunReport) -> bytes:
    """Cost per instance, model-call latency (with P50/P90/P99), and time per instance."""
    figure = Figure(figsize=(10, 3.2))
    cost_axes, latency_axes, time_axes = figure.subplots(1, 3)
    costs = [row["cost_usd"] for row in report.instances if row["attempts"]]
    if not report.metrics["calls"]:
        _empty(cost_axes, "no model calls recorded")
    elif not any(costs):
        _empty(cost_axes, "no spend recorded ($0)")
    else:
        cost_axes.hist(costs, bins=min(20, max(5, len(costs) // 3)), color="#2e86c1", edgecolor="white")
        cost_axes.set_xlabel("USD per instance")
        cost_axes.set_ylabel("instances")
    cost_axes.set_title("Cost per instance")
    if report.latencies:
        latency_axes.hist(
            report.latencies, bins=min(30, max(5, len(report.latencies) // 5)), color="#8e44ad", edgecolor="white"
        )
        for q, style in ((0.5, "-"), (0.9, "--"), (0.99, ":")):
            value = percentile(report.latencies, q)
            latency_axes.axvline(value, color="black", linestyle=style, linewidth=1, label=f"P{int(q * 100)} {value:.3g}s")
        latency_axes.legend(fontsize=7)
        latency_axes.set_xlabel("seconds per model call")
        latency_axes.set_ylabel("calls")
    else:
        _empty(latency_axes, "no model calls recorded")
    latency_axes.set_title("Model-call latency")
    finished = [row for row in report.instances if row["attempts"]]
    if finished:
        time_axes.hist(
            [[row["agent_s"] for row in finished], [row["eval_s"] for row in finished]],
            bins=min(20, max(5, len(finished) // 3)), label=["agent", "evaluation"], color=["#16a085", "#d35400"],
            edgecolor="white",
        )
        time_axes.legend(fontsize=7)
        time_axes.set_xlabel("seconds per instance")
        time_axes.set_ylabel("instances")
    else:
        _empty(time_axes, "nothing finished yet")
    time_axes.set_title("Time per instance")
    figure.tight_layout()
    return _png(figure)


def per_repo(report: RunReport) -> bytes:
    """Resolved rate per repository, with resolved/scored counts on each bar."""
    repos = report.metrics["per_repo"]
    figure = Figure(figsize=(7, max(2.2, 0.42 * len(repos) + 1)))
    axes = figure.add_subplot()
    if not repos:
        _empty(axes, "no instances")
    names = list(repos)
    rates = [repos[name]["resolved_rate"] or 0.0 for name in names]
    axes.barh(names, rates, color="#2e86c1")
    for index, name in enumerate(names):
        row = repos[name]
        axes.text(rates[index] + 0.01, index, f"{row['resolved']}/{row['scored']}", va="center", fontsize=8)
    axes.set_xlim(0, 1.12)
    axes.invert_yaxis()
    axes.set_xlabel("resolved rate")
    axes.set_title("Resolved rate per repository")
    return _png(figure)


PLOTS = {"phases": phase_rates, "distributions": distributions, "repos": per_repo}


def render_all(report: RunReport) -> dict[str, bytes]:
    return {name: draw(report) for name, draw in PLOTS.items()}
