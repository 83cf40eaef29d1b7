"""The tests an agent may run, run inside its sandbox, and their failures in a form a model can use.

Which tests: in feedback-split mode the task names its public tests (a share of FAIL_TO_PASS); they
live in the test patch, which is applied only for the duration of the run and reverted at once, so
the workspace (and the submitted diff) never contains it and the hidden tests are never run.
Otherwise the repository's own tests for the files that were edited: test files named after an
edited module first, then test files that import it. The hidden FAIL_TO_PASS tests are never run:
their test patch is not in the workspace.

What the model gets back: the failing test ids and, for each, the assertion lines and the failing
source line, trimmed. A whole pytest log is mostly noise and eats the context window. The same
failures give the same :attr:`TestReport.signature`, which is how the agent notices it is going
round in circles.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from ..core.feedback import is_test_path
from ..sandbox.base import Sandbox

PATCH_FILE = ".ramp-public-tests.patch"
_SUMMARY = re.compile(r"^(PASSED|FAILED|ERROR|XPASS|XFAIL|SKIPPED)\s+(\S+)(?:\s+-\s+(.*))?$")
_BANNER = re.compile(r"^=+ (FAILURES|ERRORS) =+$")
_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$")
_RULE = re.compile(r"^=+ .* =+$")
_USEFUL = re.compile(r"^(E |>|\S+\.py:\d+:)")
_NOISE = re.compile(r"^E\s*$|^E\s+Use -v to get more diff")
_ADDRESS = re.compile(r"0x[0-9a-f]+")
_LINE_NUMBER = re.compile(r"(\.py):\d+")


@dataclass
class TestReport:
    """One test run, digested."""

    __test__ = False  # not a pytest test class, despite the name

    command: str
    ran: bool
    passed: bool = False
    failing: list[str] = field(default_factory=list)
    passed_count: int = 0
    feedback: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0

    @property
    def signature(self) -> str:
        """Equal for two runs that failed the same way, even if an edit moved the failing lines."""
        text = "\n".join(sorted(self.failing)) + "\n" + self.feedback
        return _LINE_NUMBER.sub(r"\1:?", _ADDRESS.sub("0x?", text))


def _sections(output: str) -> dict[str, list[str]]:
    """Failure sections of a pytest log: header name -> the lines worth showing."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    inside = False
    for line in output.splitlines():
        if _BANNER.match(line):
            inside, current = True, None
            continue
        if not inside:
            continue
        header = _SECTION.match(line)
        if header:
            current = sections.setdefault(header.group(1), [])
        elif _RULE.match(line):
            inside, current = False, None
        elif current is not None and _USEFUL.match(line) and not _NOISE.match(line):
            current.append(line)
    return sections


def digest(command: str, output: str, exit_code: int, timed_out: bool, *, max_chars: int, lines_per_failure: int) -> TestReport:
    """Turn pytest's ``-rA`` output into a report; anything unparsed falls back to the log's tail."""
    report = TestReport(command=command, ran=True, exit_code=exit_code)
    if timed_out:
        report.failing = ["(timeout)"]
        report.feedback = "The test run timed out. Last output:\n" + _tail(output, 20)
        return report
    if exit_code == 5:
        report.ran = False
        report.feedback = "pytest collected no tests."
        return report
    messages: dict[str, str] = {}
    for line in output.splitlines():
        match = _SUMMARY.match(line)
        if not match:
            continue
        status, test, message = match.groups()
        if status in ("FAILED", "ERROR"):
            report.failing.append(test)
            messages[test] = message or ""
        elif status in ("PASSED", "XFAIL"):
            report.passed_count += 1
    report.passed = exit_code == 0 and not report.failing
    if report.passed:
        report.feedback = f"All {report.passed_count} tests passed."
        return report
    if not report.failing:
        report.failing = ["(collection)"]
        report.feedback = "The tests could not run. Last output:\n" + _tail(output, 30)
        return report
    sections = _sections(output)
    parts = [f"{len(report.failing)} failed, {report.passed_count} passed."]
    for test in report.failing:
        name = test.rsplit("::", 1)[-1]
        detail = sections.get(name) or next((v for k, v in sections.items() if k.endswith(name)), [])
        parts.append(f"\nFAILED {test}" + (f" - {messages[test]}" if messages[test] else ""))
        parts += detail[-lines_per_failure:]
    text = "\n".join(parts)
    report.feedback = text if len(text) <= max_chars else text[: max_chars - 20] + "\n... (trimmed)"
    return report


def _tail(output: str, lines: int) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


async def relevant_tests(sandbox: Sandbox, edited: list[str], limit: int) -> list[str]:
    """Existing test files for the edited files: named after an edited module, else importing it."""
    files = await sandbox.list_files()
    tests = [f for f in files if f.endswith(".py") and is_test_path(f) and f.rsplit("/", 1)[-1].startswith("test")]
    stems = set()
    for path in edited:
        parts = path.removesuffix(".py").split("/")
        stems.add(parts[-2] if parts[-1] == "__init__" and len(parts) > 1 else parts[-1])
    chosen = [t for t in edited if t in tests]
    chosen += [t for t in tests if t not in chosen and any(s in t.rsplit("/", 1)[-1] for s in stems)]
    if len(chosen) < limit and stems:
        patterns = " ".join(f"-e {shlex.quote(s)}" for s in sorted(stems))
        result = await sandbox.run(f"git grep --untracked -l -w -F {patterns} -- '*.py'", timeout=60)
        chosen += [t for t in result.output.splitlines() if t in tests and t not in chosen]
    return chosen[:limit]


class TestRunner:
    """Runs the visible tests for one attempt with a configurable command."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, sandbox: Sandbox, command: str, *, public_tests: list[str], test_patch: str,
                 max_test_files: int, max_chars: int, lines_per_failure: int):
        self.sandbox = sandbox
        self.command = command
        self.public_tests = public_tests
        self.test_patch = test_patch
        self.max_test_files = max_test_files
        self.max_chars = max_chars
        self.lines_per_failure = lines_per_failure

    async def run(self, edited: list[str], timeout: float) -> TestReport:
        """Run the public tests if the task has some, else the edited files' existing tests."""
        note = ""
        if self.public_tests:
            if await self._test_patch(reverse=False):
                try:
                    return await self._run(self.public_tests, timeout)
                finally:
                    await self._test_patch(reverse=True)
            note = "(The public tests could not be set up next to your edits; ran the existing tests.)\n"
        targets = await relevant_tests(self.sandbox, edited, self.max_test_files)
        if not targets:
            return TestReport(command="", ran=False, feedback=note + "No existing tests cover the edited files.")
        report = await self._run(targets, timeout)
        report.feedback = note + report.feedback
        return report

    async def _test_patch(self, *, reverse: bool) -> bool:
        """Apply (or revert) the task's test patch in the workspace; True if git applied it."""
        await self.sandbox.write_file(PATCH_FILE, self.test_patch)
        flag = "-R " if reverse else ""
        result = await self.sandbox.run(
            f"git apply {flag}--whitespace=nowarn {PATCH_FILE}; code=$?; rm -f {PATCH_FILE}; exit $code",
            timeout=60,
        )
        return result.exit_code == 0

    async def _run(self, targets: list[str], timeout: float) -> TestReport:
        command = self.command.replace("{tests}", " ".join(shlex.quote(t) for t in targets))
        result = await self.sandbox.run(command, timeout=timeout)
        report = digest(command, result.output, result.exit_code, result.timed_out,
                        max_chars=self.max_chars, lines_per_failure=self.lines_per_failure)
        report.duration_s = result.duration_s
        return report
