"""Run reports (Markdown, self-contained HTML, JSON) and the A/B comparison.

:func:`write_report` is what ``ramp report`` calls: it gathers one :class:`~.collect.RunReport`
from the store and renders it in the formats asked for, by default Markdown and HTML side by side
in the run's folder (runs/<run_id>/report.md with its plots in report-plots/, and report.html).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.artifacts import atomic_write
from ..core.errors import ConfigError

if TYPE_CHECKING:
    from ..store import Store

FORMATS = ("md", "html", "json")


def output_paths(default_dir: Path, stem: str, fmt: str | None, out: Path | None) -> dict[str, Path]:
    """Where each requested format goes: --out (format from --format or its suffix), else default_dir."""
    if out is not None:
        fmt = fmt or out.suffix.lstrip(".").replace("markdown", "md")
        if fmt not in FORMATS:
            raise ConfigError(f"cannot tell the format of {out}; pass --format md|html|json", field="--out")
        return {fmt: out}
    formats = [fmt] if fmt else ["md", "html"]
    return {f: default_dir / f"{stem}.{f}" for f in formats}


async def write_report(
    store: Store, run_id: str, runs_dir: Path, *, fmt: str | None = None, out: Path | None = None,
    baseline: str | None = None, exclude_env_broken: bool = False,
) -> list[Path]:
    """Write the run's report; returns the files written (plots included)."""
    from . import html, markdown, plots
    from .collect import collect

    report = await collect(store, run_id, runs_dir, baseline, exclude_env_broken=exclude_env_broken)
    written: list[Path] = []
    targets = output_paths(report.folder, "report", fmt, out)
    images = plots.render_all(report) if {"md", "html"} & set(targets) else {}
    for kind, path in targets.items():
        if kind == "json":
            atomic_write(path, json.dumps(report.to_json(), indent=2, default=str) + "\n")
        elif kind == "html":
            atomic_write(path, html.render(report, images))
        else:
            plot_dir = path.parent / f"{path.stem}-plots"
            plot_dir.mkdir(parents=True, exist_ok=True)
            links = {}
            for name, png in images.items():
                (plot_dir / f"{name}.png").write_bytes(png)
                written.append(plot_dir / f"{name}.png")
                links[name] = f"{plot_dir.name}/{name}.png"
            atomic_write(path, markdown.render(report, links))
        written.append(path)
    return written


async def write_comparison(
    store: Store, run_a: str, run_b: str, runs_dir: Path, *, fmt: str | None = None, out: Path | None = None,
    seed: int = 0,
) -> tuple[dict, list[Path]]:
    """Write the A/B report of two runs; returns the comparison and the files written."""
    from ..core.artifacts import safe_name
    from .compare import compare, render_html, render_markdown

    result = await compare(store, run_a, run_b, seed=seed)
    targets = output_paths(Path(runs_dir) / "compare", f"{safe_name(run_a)}--vs--{safe_name(run_b)}", fmt, out)
    for kind, path in targets.items():
        if kind == "json":
            atomic_write(path, json.dumps(result, indent=2) + "\n")
        else:
            atomic_write(path, render_html(result) if kind == "html" else render_markdown(result))
    return result, list(targets.values())
