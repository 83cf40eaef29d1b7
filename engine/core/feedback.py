"""Feedback-split mode and the other measurement options judged at each gate.

An agent that may run the failing tests can fit its patch to them without fixing the bug. To see
whether it does, a share of each instance's FAIL_TO_PASS tests is shown to the agent
(``AgentTask.public_tests``) and the rest stay hidden. The evaluation is not run twice: the official
evaluation already reports every FAIL_TO_PASS test's result, and the metrics split those results into
public and hidden with the same function the scheduler used to choose what the agent saw. The split
depends only on the seed, the instance id and the test names (not on their order), so the store alone
is enough to recompute it.

The same module knows how to cut a model patch into its source part and its test part, which the
bug-reproduction audit needs: did the agent write a test that fails before its fix and passes after?
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

_FILE_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)", re.MULTILINE)
_TEST_DIRS = frozenset({"test", "tests", "testing"})


class FeedbackConfig(BaseModel):
    """Feedback-split mode: what the agent may see of the tests that decide resolution."""

    model_config = ConfigDict(extra="forbid")

    public_share: float = Field(
        default=0.0, ge=0.0, lt=1.0,
        description="Share of each instance's FAIL_TO_PASS tests shown to the agent as public tests; "
        "the rest stay hidden. 0 turns feedback-split mode off. An instance with a single "
        "FAIL_TO_PASS test has nothing to split and keeps it hidden.",
    )
    seed: int = Field(default=0, description="Seed of the public/hidden split (deterministic per instance).")
    bug_reproduction: bool = Field(
        default=False,
        description="At each gate, run the test files an agent's patch adds or changes on the base "
        "commit and on base + its fix (two extra evaluations per such attempt) to score whether the "
        "agent reproduced the bug.",
    )


class RegradeConfig(BaseModel):
    """Flakiness audit: grade a share of finished patches a second time and compare."""

    model_config = ConfigDict(extra="forbid")

    resolved: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="Share of resolved attempts graded once more at the gate; a disagreement is "
        "recorded as eval_flaky.",
    )
    unresolved: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="Share of unresolved attempts graded once more at the gate.",
    )
    seed: int = Field(default=0, description="Seed of the choice of attempts to re-grade.")


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by its inputs: a reproducible coin for splits and samples."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_tests(instance_id: str, tests: list[str], share: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """(public, hidden) for one instance: round(share * n) public tests, at least one of each kind.

    With share 0, or fewer than two tests, everything is hidden.
    """
    unique = sorted(set(tests))
    if share <= 0 or len(unique) < 2:
        return [], unique
    count = min(max(round(share * len(unique)), 1), len(unique) - 1)
    ranked = sorted(unique, key=lambda test: _unit(seed, instance_id, test))
    public = set(ranked[:count])
    return [t for t in unique if t in public], [t for t in unique if t not in public]


def public_tests(instance_id: str, fail_to_pass: list[str], share: float, seed: int = 0) -> list[str]:
    """The FAIL_TO_PASS tests the agent is shown (empty unless feedback-split mode is on)."""
    return split_tests(instance_id, fail_to_pass, share, seed)[0]


def chosen(share: float, seed: int, *key: object) -> bool:
    """Whether this item falls in a reproducible sample of the given share."""
    return share > 0 and _unit(seed, *key) < share


def is_test_path(path: str) -> bool:
    """A test file by the usual Python conventions: under a test folder or named test_*/*_test."""
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    if any(part in _TEST_DIRS for part in parts[:-1]):
        return True
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py") or name == "tests.py")


def split_patch(patch: str) -> tuple[str, str]:
    """Cut a unified git diff into (source part, test part), file by file."""
    headers = list(_FILE_HEADER.finditer(patch or ""))
    source: list[str] = []
    tests: list[str] = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(patch)
        chunk = patch[header.start():end]
        (tests if is_test_path(header.group(2)) else source).append(chunk)
    return "".join(source), "".join(tests)
