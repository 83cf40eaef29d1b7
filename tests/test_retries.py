"""The scheduler retries only retryable error classes, and an infra failure is never a model failure.

Real failures, no fakes: a repository mirror that is broken (so cloning fails: class infra) and is
repaired while the run waits to retry; a mirror that stays broken; and a patch that does not apply
(class malformed_patch: a graded, unresolved attempt that is not retried).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from engine.datasets.bundled import build_bundled
from engine.datasets.bundled.builder import source_template

from .runhelpers import db_rows, json_lines, ramp, ramp_popen

pytestmark = pytest.mark.slow

FAST_RETRY = {"RAMP_RUN__RETRY_BACKOFF_S": "1"}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def romans(cache_dir):
    rows, template = build_bundled(cache_dir)
    row = next(r for r in rows if r.repo.endswith("/romans"))
    mirror = Path(template.format(owner=row.owner, name=row.name).removeprefix("file://"))
    return row, mirror


def dataset(tmp_path: Path, row, **changes) -> Path:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({**row.to_swebench_row(), **changes}) + "\n")
    return path


def broken_mirror(tmp_path: Path, row) -> tuple[str, Path]:
    """A template whose mirror exists (preflight passes) but is not a git repository."""
    target = tmp_path / "mirrors" / f"{row.owner}+{row.name}.git"
    target.mkdir(parents=True)
    (target / "README").write_text("not a repository\n")
    return f"file://{tmp_path}/mirrors/{{owner}}+{{name}}.git", target


def test_an_infra_failure_is_retried_and_recovers(tmp_path, cache_dir, romans):
    row, good_mirror = romans
    template, target = broken_mirror(tmp_path, row)
    runs = tmp_path / "runs"
    proc = ramp_popen(["run", "--dataset", str(dataset(tmp_path, row)), "--agent", "gold", "--headless", "--json",
                       "--repo-source", template, "--runs-dir", str(runs), "--run-id", "flaky"],
                      cache_dir=tmp_path / "own-cache", **FAST_RETRY)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if '"retry 1 of 2"' in line or "retry 1 of 2" in line:
                break
        else:
            raise AssertionError("no retry announced")
        shutil.rmtree(target)
        shutil.copytree(good_mirror, target)  # the mirror comes back before the retry
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-2000:]
    assert json_lines(stdout)[-1]["outcomes"] == {row.instance_id: "resolved"}
    attempts = db_rows(runs, "SELECT attempt, retries, outcome FROM attempts")
    assert len(attempts) == 1 and attempts[0]["attempt"] == 1
    assert attempts[0]["retries"] >= 1 and attempts[0]["outcome"] == "resolved"


def test_a_lasting_infra_failure_is_retried_then_reported_apart_with_exit_3(tmp_path, romans):
    row, _ = romans
    template, _ = broken_mirror(tmp_path, row)
    runs = tmp_path / "runs"
    out = ramp(["run", "--dataset", str(dataset(tmp_path, row)), "--agent", "gold", "--headless", "--json",
                "--repo-source", template, "--runs-dir", str(runs), "--run-id", "down"],
               cache_dir=tmp_path / "own-cache", **FAST_RETRY)
    assert out.returncode == 3, out.stderr[-2000:]
    events = json_lines(out.stdout)
    retries = [e["message"] for e in events if e["kind"] == "alert" and "retry" in e["message"]]
    assert len(retries) == 2 and "infra" in retries[0]
    summary = events[-1]
    assert summary["outcomes"] == {row.instance_id: "error"}
    assert summary["metrics"]["infra_failures"] == 1
    assert summary["metrics"]["resolved_rate"] is None  # nothing was scored: no model failure counted
    attempt = db_rows(runs, "SELECT * FROM attempts")[0]
    assert (attempt["outcome"], attempt["error_class"], attempt["retries"]) == ("error", "infra", 2)


def test_a_patch_that_does_not_apply_is_graded_unresolved_and_not_retried(tmp_path, cache_dir, romans):
    row, _ = romans
    bad = "diff --git a/romans/numerals.py b/romans/numerals.py\n--- a/romans/numerals.py\n" \
          "+++ b/romans/numerals.py\n@@ -1,3 +1,3 @@\n-this line is not in the file\n+nor is this\n"
    runs = tmp_path / "runs"
    out = ramp(["run", "--dataset", str(dataset(tmp_path, row, patch=bad)), "--agent", "gold", "--headless",
                "--json", "--repo-source", source_template(cache_dir), "--runs-dir", str(runs), "--run-id", "bad"],
               cache_dir=cache_dir, **FAST_RETRY)
    events = json_lines(out.stdout)
    assert not [e for e in events if e["kind"] == "alert" and "retry" in e["message"]]
    assert events[-1]["outcomes"] == {row.instance_id: "unresolved"}
    attempt = db_rows(runs, "SELECT * FROM attempts")[0]
    assert (attempt["outcome"], attempt["error_class"], attempt["retries"]) == ("unresolved", "malformed_patch", 0)
    evaluation = db_rows(runs, "SELECT applied, resolved FROM evaluations")[0]
    assert evaluation == {"applied": 0, "resolved": 0}
