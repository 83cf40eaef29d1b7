"""The tests an agent may see: which ones, run for real in a sandbox, and what comes back to the model."""

from __future__ import annotations

import subprocess

from engine.agents.testing import PATCH_FILE, TestRunner, digest, relevant_tests
from engine.sandbox.local import LocalSandbox

from .agenthelpers import checkout

COMMAND = "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -rA -p no:cacheprovider {tests}"


def runner(sandbox, public_tests=(), test_patch=""):
    return TestRunner(sandbox, COMMAND, public_tests=list(public_tests), test_patch=test_patch,
                      max_test_files=5, max_chars=4000, lines_per_failure=12)


async def break_iniparse(sandbox):
    path = "iniparse/parser.py"
    text = await sandbox.read_file(path)
    await sandbox.write_file(path, text.replace(
        "        current[key.strip().lower()] = _unquote(value.strip())",
        "        current[key.strip().lower()] = _unquote(value.split(';')[0].strip())",
    ))


async def test_failures_come_back_as_test_ids_and_assertions(tmp_path):
    _, sandbox = await checkout("iniparse", tmp_path / "ws")
    await break_iniparse(sandbox)
    report = await runner(sandbox).run(["iniparse/parser.py"], timeout=120)
    assert report.ran and not report.passed
    assert report.command.endswith("tests/test_parser.py")
    assert sorted(report.failing) == [
        "tests/test_parser.py::test_quoted_value_keeps_semicolon",
        "tests/test_parser.py::test_semicolon_inside_unquoted_value",
    ]
    assert report.passed_count == 4
    assert report.feedback.startswith("2 failed, 4 passed.")
    assert "FAILED tests/test_parser.py::test_semicolon_inside_unquoted_value" in report.feedback
    assert "E         {'paths': {'search': '/usr/lib'}} != {'paths': {'search': '/usr/lib;/opt/lib'}}" in report.feedback
    assert "Use -v" not in report.feedback
    assert "tests/test_parser.py:" in report.feedback  # where it failed
    assert "PASSED" not in report.feedback  # only the failures are worth the context


async def test_a_clean_run_passes(tmp_path):
    _, sandbox = await checkout("iniparse", tmp_path / "ws")
    report = await runner(sandbox).run(["iniparse/parser.py"], timeout=120)
    assert report.passed and report.feedback == "All 6 tests passed."


async def test_an_import_error_is_a_failure_with_the_log_tail(tmp_path):
    _, sandbox = await checkout("csvstats", tmp_path / "ws")
    text = await sandbox.read_file("csvstats/stats.py")
    await sandbox.write_file("csvstats/stats.py", text.replace("from typing import IO\n", "from typing import IO\nfrom .numbers import parse_number\n"))
    report = await runner(sandbox).run(["csvstats/stats.py"], timeout=120)
    assert not report.passed and report.failing == ["tests/test_stats.py"]
    assert "No module named 'csvstats.numbers'" in report.feedback


def test_digest_of_a_timeout_and_of_no_tests():
    timed_out = digest("pytest x", "collected 3 items\n", -9, True, max_chars=1000, lines_per_failure=5)
    assert timed_out.failing == ["(timeout)"] and "timed out" in timed_out.feedback
    nothing = digest("pytest x", "no tests ran", 5, False, max_chars=1000, lines_per_failure=5)
    assert not nothing.ran and not nothing.passed


def test_digest_of_a_crash_without_a_summary_keeps_the_tail():
    output = "\n".join(f"line {i}" for i in range(100)) + "\nSyntaxError: invalid syntax"
    report = digest("pytest x", output, 2, False, max_chars=1000, lines_per_failure=5)
    assert report.failing == ["(collection)"]
    assert report.feedback.endswith("SyntaxError: invalid syntax") and "line 50" not in report.feedback


def test_the_same_failure_has_the_same_signature_even_when_lines_move():
    def log(line: int, message: str) -> str:
        return (
            "=================================== FAILURES ===================================\n"
            "___________________________________ test_a ___________________________________\n"
            f">       assert f() == 2\nE       assert {message}\n\npkg/test_a.py:{line}: AssertionError\n"
            "=========================== short test summary info ============================\n"
            f"FAILED pkg/test_a.py::test_a - assert {message}\n"
        )

    def signature(line: int, message: str) -> str:
        return digest("pytest", log(line, message), 1, False, max_chars=4000, lines_per_failure=12).signature

    assert signature(10, "1 == 2") == signature(14, "1 == 2")
    assert signature(10, "1 == 2") != signature(10, "3 == 2")


def test_feedback_is_trimmed_to_its_budget():
    lines = "".join(f"FAILED t.py::test_{i} - AssertionError: {'x' * 50}\n" for i in range(100))
    report = digest("pytest", lines, 1, False, max_chars=500, lines_per_failure=5)
    assert len(report.feedback) <= 500 and report.feedback.endswith("(trimmed)")


async def test_relevant_tests_by_name_then_by_import(tmp_path):
    _, sandbox = await checkout("matrixkit", tmp_path / "ws")
    assert await relevant_tests(sandbox, ["matrixkit/linalg/ops.py"], 5) == ["tests/linalg/test_ops.py"]

    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pkg" / "core.py").write_text("def thing():\n    return 1\n")
    (repo / "tests" / "test_api.py").write_text("from pkg.core import thing\n")
    (repo / "tests" / "test_other.py").write_text("def test_x():\n    pass\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    # Untracked files count too: a test the agent just wrote is a test it may run.
    assert await relevant_tests(LocalSandbox(repo, "HEAD"), ["pkg/core.py"], 5) == ["tests/test_api.py"]


async def test_public_tests_run_with_the_test_patch_which_is_then_removed(tmp_path):
    row, sandbox = await checkout("iniparse", tmp_path / "ws")
    public = row.FAIL_TO_PASS[:2]
    hidden = row.FAIL_TO_PASS[2:]
    report = await runner(sandbox, public, row.test_patch).run(["iniparse/parser.py"], timeout=120)
    assert sorted(report.failing) == sorted(public)  # the base code fails them...
    assert report.passed_count == 0  # ...and nothing else ran: not the hidden ones, not PASS_TO_PASS
    assert not any(test.split("::")[1] in report.feedback for test in hidden)
    status = (await sandbox.run("git status --porcelain", timeout=30)).output
    assert status == ""  # the test patch is gone again, and so is its temporary file
    assert not (tmp_path / "ws" / PATCH_FILE).exists()


async def test_public_tests_that_cannot_be_set_up_fall_back_to_existing_tests(tmp_path):
    row, sandbox = await checkout("iniparse", tmp_path / "ws")
    await sandbox.write_file("tests/test_parser.py", "def test_rewritten():\n    assert True\n")
    report = await runner(sandbox, row.FAIL_TO_PASS[:1], row.test_patch).run(["iniparse/parser.py"], timeout=120)
    assert report.feedback.startswith("(The public tests could not be set up")
    assert report.passed and report.passed_count == 1
