"""Patch path checks (pure) and the official apply fallbacks (real git and patch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.evaluators.patching import (
    apply_patch,
    check_patch_paths,
    check_patch_targets,
    patch_paths,
)
from tests.evalhelpers import git

SAFE = """diff --git a/src/calc/__init__.py b/src/calc/__init__.py
index 1111111..2222222 100644
--- a/src/calc/__init__.py
+++ b/src/calc/__init__.py
@@ -1,3 +1,3 @@
 def add(a, b):
--- this removed line starts with two dashes
+++ this added line starts with two pluses
"""


def test_a_normal_patch_has_no_violations() -> None:
    assert check_patch_paths(SAFE) == []
    assert patch_paths(SAFE) == ["src/calc/__init__.py"]  # hunk lines are not read as headers
    assert check_patch_paths("") == []


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("--- a/../x.py\n+++ b/../x.py\n@@ -1 +1 @@\n-a\n+b\n", "climbs out"),
        ("--- a/x.py\n+++ /etc/cron.d/x\n@@ -1 +1 @@\n-a\n+b\n", "absolute path"),
        (
            "diff --git a/x b/x\n--- a/x\n+++ b//root/.bashrc\n@@ -1 +1 @@\n-a\n+b\n",
            "absolute path",
        ),
        (
            "--- a/.git/hooks/pre-commit\n+++ b/.git/hooks/pre-commit\n@@ -1 +1 @@\n-a\n+b\n",
            ".git/",
        ),
        ("--- a/sub/.GIT/config\n+++ b/sub/.GIT/config\n@@ -1 +1 @@\n-a\n+b\n", ".git/"),
        (
            "diff --git a/x.py b/x.py\nsimilarity index 100%\nrename from x.py\nrename to ../../x.py\n",
            "climbs out",
        ),
        (
            '--- "a/\\303\\251/../../x"\n+++ "b/\\303\\251/../../x"\n@@ -1 +1 @@\n-a\n+b\n',
            "climbs out",
        ),
        ("Index: ../x.py\n===\n--- x.py\n+++ x.py\n@@ -1 +1 @@\n-a\n+b\n", "climbs out"),
        (
            "diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n"
            "+/etc\n\\ No newline at end of file\n",
            "symlink pointing out",
        ),
        (
            "diff --git a/d/link b/d/link\nnew file mode 120000\n--- /dev/null\n+++ b/d/link\n@@ -0,0 +1 @@\n"
            "+../../..\n\\ No newline at end of file\n",
            "symlink pointing out",
        ),
    ],
    ids=[
        "dotdot",
        "absolute",
        "double-slash",
        "git-dir",
        "git-dir-case",
        "rename",
        "quoted",
        "index",
        "symlink-abs",
        "symlink-rel",
    ],
)
def test_escapes_are_named(patch: str, expected: str) -> None:
    problems = check_patch_paths(patch)
    assert problems and expected in " ".join(problems), problems


def test_a_symlink_inside_the_tree_is_allowed() -> None:
    patch = (
        "diff --git a/d/link b/d/link\nnew file mode 120000\n--- /dev/null\n+++ b/d/link\n@@ -0,0 +1 @@\n"
        "+../other\n\\ No newline at end of file\n"
    )
    assert check_patch_paths(patch) == []


def test_paths_through_existing_symlinks_are_checked_against_the_tree(tmp_path: Path) -> None:
    (tmp_path / "inside").mkdir()
    (tmp_path / "ok").symlink_to(tmp_path / "inside")
    (tmp_path / "out").symlink_to("/tmp")
    patch = "--- /dev/null\n+++ b/{}/f.py\n@@ -0,0 +1 @@\n+x\n"
    assert check_patch_targets(patch.format("ok"), tmp_path) == []
    assert "symlink 'out'" in check_patch_targets(patch.format("out"), tmp_path)[0]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "f.txt").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return repo


async def test_git_apply_takes_a_clean_patch(tree: Path, tmp_path: Path) -> None:
    patch = tmp_path / "p.diff"
    patch.write_text(
        "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n line 1\n-line 2\n+LINE 2\n line 3\n"
    )
    outcome = await apply_patch(tree, patch)
    assert outcome.applied and outcome.command == "git apply --verbose"
    assert "LINE 2" in (tree / "f.txt").read_text()


async def test_patch_fuzz_is_the_last_resort(tree: Path, tmp_path: Path) -> None:
    # Context that no longer matches exactly: git apply refuses, patch --fuzz=5 takes it.
    patch = tmp_path / "p.diff"
    patch.write_text(
        "--- a/f.txt\n+++ b/f.txt\n@@ -9,7 +9,7 @@\n line 9\n line ten\n line 11\n-line 12\n+LINE 12\n"
        " line 13\n line fourteen\n line 15\n"
    )
    outcome = await apply_patch(tree, patch)
    assert outcome.applied and outcome.command.startswith("patch --batch --fuzz=5")
    assert "$ git apply --verbose\n" in outcome.output
    assert "LINE 12" in (tree / "f.txt").read_text()


async def test_a_failed_patch_leaves_the_tree_clean(tree: Path, tmp_path: Path) -> None:
    patch = tmp_path / "p.diff"
    patch.write_text(
        "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n line 1\n-line 2\n+LINE 2\n"
        "@@ -15,3 +15,3 @@\n no such\n-context\n+at all\n"
    )
    outcome = await apply_patch(tree, patch)
    assert not outcome.applied
    assert git(tree, "status", "--porcelain") == ""
