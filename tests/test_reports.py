"""Run reports (Markdown, self-contained HTML, JSON) and the A/B comparison."""

from __future__ import annotations

import base64
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.errors import ConfigError
from engine.reports import write_comparison, write_report
from engine.reports.compare import compare
from engine.store import Store
from tests.rampfill import attempt, call, make_run

ROOT = Path(__file__).resolve().parents[1]


async def fill_reported_run(store: Store) -> None:
    """Two phases over three repos, model calls with costs and latencies, and recorded verdicts."""
    instances = [("a", "o/alpha", 0), ("b", "o/beta", 0), ("c", "o/alpha", 1), ("d", "o/gamma", 1), ("e", "o/beta", 1)]
    await make_run(store, "rep", instances)
    for n, (iid, outcome) in enumerate([("a", "resolved"), ("b", "unresolved"), ("c", "resolved"),
                                        ("d", "resolved"), ("e", "unresolved")]):
        await attempt(store, "rep", iid, 1, outcome, started=10 * n, finished=10 * n + 8)
        for k in range(4):
            await call(store, "rep", iid, cost=0.05 * (n + 1), latency=0.5 + 0.4 * k + 0.1 * n)
    await store.update_phase("rep", 0, status="done", tier="CAUTION", decision="approve", decided_by="operator",
                             verdict={"rule": "resolved_rate >= 0.6 failed (0.5)", "projection": {}})
    await store.update_phase("rep", 1, status="done", tier="PROCEED",
                             verdict={"rule": "not EXCELLENT: ci_width < 0.05 failed (0.7)", "projection": {}})


@pytest.fixture
async def store(tmp_path):
    async with Store(tmp_path / "runs" / "ramp.sqlite") as s:
        yield s


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


async def test_html_report_is_self_contained_with_real_plots(store, tmp_path):
    await fill_reported_run(store)
    written = await write_report(store, "rep", tmp_path / "runs")
    html = (tmp_path / "runs" / "rep" / "report.html").read_text()
    assert tmp_path / "runs" / "rep" / "report.html" in written
    assert not re.search(r'(src|href)="(https?:|//|/)', html) and "<script" not in html and "<link" not in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3
    for encoded in images:
        png = base64.b64decode(encoded)
        width, height = png_size(png)
        assert 400 < width < 2000 and 150 < height < 1500
        assert len(png) > 8_000                                     # drawn plots, not blank canvases
    assert "CAUTION" in html and "resolved_rate &gt;= 0.6 failed (0.5)" in html
    assert "o/gamma" in html and "approve (operator)" in html


async def test_markdown_report_links_its_plot_files(store, tmp_path):
    await fill_reported_run(store)
    await write_report(store, "rep", tmp_path / "runs", fmt="md")
    folder = tmp_path / "runs" / "rep"
    text = (folder / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["report-plots/phases.png", "report-plots/distributions.png", "report-plots/repos.png"]
    assert all(png_size((folder / link).read_bytes()) for link in links)
    assert "| Resolved | 3 / 5 scored (60.0%) |" in text
    assert "| Cost | $3.00 ($0.60 per instance) |" in text
    assert not (folder / "report.html").exists()


async def test_json_report_and_output_paths(store, tmp_path):
    await fill_reported_run(store)
    out = tmp_path / "elsewhere" / "r.json"
    assert await write_report(store, "rep", tmp_path / "runs", out=out) == [out]
    data = json.loads(out.read_text())
    assert data["metrics"]["resolved"] == 3 and data["folder"].endswith("rep")
    assert [p["metrics"]["scored"] for p in data["phases"]] == [2, 5]            # cumulative per phase
    assert [p["tier"] for p in data["phases"]] == ["CAUTION", "PROCEED"]
    with pytest.raises(ConfigError, match="--format"):
        await write_report(store, "rep", tmp_path / "runs", out=tmp_path / "r.txt")


async def fill_ab(store: Store) -> None:
    """A resolves i0 and i7; B resolves i1..i7; i8 neither; i9 is an infra failure in B."""
    ids = [(f"i{n}", "o/r", 0) for n in range(10)]
    await make_run(store, "A", ids)
    await make_run(store, "B", ids)
    for n in range(10):
        await attempt(store, "A", f"i{n}", 1, "resolved" if n in (0, 7) else "unresolved")
        if n == 9:
            await attempt(store, "B", "i9", 1, "error", error_class="infra")
        else:
            await attempt(store, "B", f"i{n}", 1, "resolved" if 1 <= n <= 7 else "unresolved")


async def test_ab_comparison_flips_mcnemar_and_bootstrap(store):
    await fill_ab(store)
    c = await compare(store, "A", "B", seed=3)
    assert c["common_instances"] == 9 and c["only_in_a"] == ["i9"]
    assert c["a_only_resolved"] == ["i0"] and c["b_only_resolved"] == [f"i{n}" for n in range(1, 7)]
    assert (c["both_resolved"], c["neither_resolved"]) == (1, 1)
    assert c["rate_a"] == pytest.approx(2 / 9) and c["rate_b"] == pytest.approx(7 / 9)
    assert c["mcnemar_p"] == pytest.approx(2 * (1 + 7) / 2**7)                   # b=1, c=6
    low, high = c["bootstrap_ci"]
    assert low < 5 / 9 < high and low > 0
    assert (await compare(store, "A", "B", seed=3))["bootstrap_ci"] == c["bootstrap_ci"]


async def test_ab_report_files(store, tmp_path):
    await fill_ab(store)
    result, written = await write_comparison(store, "A", "B", tmp_path / "runs")
    assert [p.name for p in written] == ["A--vs--B.md", "A--vs--B.html"]
    text = written[0].read_text()
    assert "| Exact McNemar p | 0.125 |" in text and "| i0 | A only |" in text
    assert "not significant" in text
    assert "<td>i6</td><td>B only</td>" in written[1].read_text()


def test_report_and_compare_commands(tmp_path):
    import anyio

    async def fill() -> None:
        async with Store(tmp_path / "runs" / "ramp.sqlite") as s:
            await fill_reported_run(s)
            await fill_ab(s)

    anyio.run(fill)

    def ramp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine", *args, "--runs-dir", str(tmp_path / "runs")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    out = ramp("report", "rep", "--format", "html")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "runs" / "rep" / "report.html")
    out = ramp("compare", "A", "B", "--format", "json")
    assert out.returncode == 0, out.stderr
    # Points, not a relative "% more": 22.2% vs 77.8% is 55.6 points.
    assert "B resolves 55.6 percentage points more of the 9 common instances (22.2% vs 77.8%)" in out.stdout
    assert json.loads((tmp_path / "runs" / "compare" / "A--vs--B.json").read_text())["mcnemar_p"] == 0.125
    missing = ramp("report", "nope")
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr
