"""Localization: what an issue says about where the code is, and the ranking it gives on real repos."""

from __future__ import annotations

import subprocess

import pytest

from engine.agents.localize import rank_files, read_clues
from engine.sandbox.local import LocalSandbox

from .agenthelpers import checkout

EXTENSIONS = (".py", ".json", ".toml")


def test_clues_from_an_issue():
    issue = (
        "Calling `Grid.resize_rows()` crashes:\n\n```python\n>>> from tables.grid import Grid\n```\n\n"
        'Traceback:\n  File "/home/me/src/tables/grid.py", line 40, in resize_rows\n'
        "See tables/layout.py too; maybe related to tables.sizing.compute.\n"
        "The frobnicate_widths helper looks wrong."
    )
    clues = read_clues(issue)
    assert clues.frames == ["/home/me/src/tables/grid.py"]
    assert "tables/layout.py" in clues.paths
    assert "tables.sizing.compute" in clues.modules and "tables.grid" in clues.modules
    assert {"Grid", "resize_rows", "frobnicate_widths"} <= set(clues.identifiers)
    assert "python" not in clues.identifiers  # a code fence's language is not an identifier
    assert "crashes" in clues.words and "that" not in clues.words


@pytest.mark.parametrize(
    ("task", "first"),
    [
        ("romans", "romans/numerals.py"),
        ("matrixkit", "matrixkit/linalg/ops.py"),
        ("lrucache", "lrucache/cache.py"),
        ("retrykit", "retrykit/retry.py"),
    ],
)
async def test_the_file_to_fix_ranks_first_on_bundled_tasks(tmp_path, task, first):
    row, sandbox = await checkout(task, tmp_path / "ws")
    ranked = await rank_files(sandbox, row.problem_statement, await sandbox.list_files(), EXTENSIONS)
    assert ranked[0].path == first, [(c.path, c.score, c.reasons) for c in ranked]
    assert any(reason.startswith("defines ") for reason in ranked[0].reasons)


async def test_tests_rank_below_the_code_they_test(tmp_path):
    row, sandbox = await checkout("romans", tmp_path / "ws")
    ranked = [c.path for c in await rank_files(sandbox, row.problem_statement, await sandbox.list_files(), EXTENSIONS)]
    assert ranked.index("romans/numerals.py") < ranked.index("tests/test_numerals.py")


async def test_a_traceback_frame_outranks_a_definition(tmp_path):
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "views.py").write_text("from app.models import load\n\ndef show():\n    return load()\n")
    (repo / "app" / "models.py").write_text("def load():\n    return {}['x']\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    issue = (
        "`show()` fails:\n\nTraceback (most recent call last):\n"
        '  File "/srv/site/app/models.py", line 2, in load\nKeyError: \'x\'\n'
    )
    sandbox = LocalSandbox(repo, "HEAD")
    ranked = await rank_files(sandbox, issue, await sandbox.list_files(), EXTENSIONS)
    assert [c.path for c in ranked][:2] == ["app/models.py", "app/views.py"]
    assert "traceback frame /srv/site/app/models.py" in ranked[0].reasons
    assert "defines show" in ranked[1].reasons


async def test_no_evidence_gives_no_candidates(tmp_path):
    _, sandbox = await checkout("romans", tmp_path / "ws")
    assert await rank_files(sandbox, "Everything is slow.", await sandbox.list_files(), EXTENSIONS) == []
