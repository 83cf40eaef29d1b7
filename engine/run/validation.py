"""``ramp validate``: does each row's gold patch resolve, and its empty patch not, where Ramp tests?

A leaderboard is only as good as its environments. For every selected instance this runs the gold
patch and the empty patch through the configured evaluator (each (repo, version) environment is
built once and shared), then reruns whatever disagrees with the expected verdict, to tell a flaky
test from a broken one. Time zone, locale and hash seed are pinned on every test run (testenv.py).
The verdict of each instance goes into the store's validation registry, as it finishes:

- ``valid``: gold resolves, empty does not;
- ``env_broken``: gold fails the same tests on every run: which tests, and the evaluator's reason;
- ``flaky``: a test's status changed between runs of the same patch: which tests, how often;
- ``empty_resolves``: the tests pass without the fix (the row cannot tell a fix from nothing);
- ``source_incomplete``: the repository's source lacks files of a needed commit (not guessed);
- ``infra``: the environment did not build, or the evaluation could not run: the reason.

An instance already in the registry for this evaluator is skipped unless asked again, so a killed
validation resumes where it stopped. Reports quote resolved rates over all scored instances and over
the valid ones (results/validation.py).
"""

from __future__ import annotations

import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from ..core.artifacts import safe_name
from ..core.errors import AttemptError, SourceIncomplete
from ..datasets.rows import SWEInstance
from ..evaluators.base import EvalRequest, EvalResult, Evaluator
from ..store import Store

STATUSES = ("valid", "env_broken", "flaky", "empty_resolves", "source_incomplete", "infra")


@dataclass
class Validation:
    """One instance's verdict, as the registry stores it."""

    instance: SWEInstance
    status: str
    reason: str = ""
    broken: list[str] = field(default_factory=list)
    flaky: dict[str, str] = field(default_factory=dict)
    gold_resolved: bool | None = None
    empty_resolved: bool | None = None
    runs: int = 0
    setup_s: float = 0.0
    test_s: float = 0.0

    def fields(self) -> dict[str, Any]:
        return {
            "repo": self.instance.repo, "version": self.instance.version, "status": self.status,
            "reason": self.reason, "broken": self.broken, "flaky": self.flaky,
            "gold_resolved": self.gold_resolved, "empty_resolved": self.empty_resolved,
            "runs": self.runs, "build_s": self.setup_s, "test_s": self.test_s,
        }  # fmt: skip


@dataclass
class _Runs:
    """Every evaluation of one patch: their results and time."""

    results: list[EvalResult] = field(default_factory=list)

    def add(self, result: EvalResult) -> EvalResult:
        self.results.append(result)
        return result

    def flipped(self) -> dict[str, str]:
        """Tests whose status differed between runs: test -> 'failed k of n'."""
        statuses: dict[str, list[str]] = {}
        for result in self.results:
            for test in {*result.fail_to_pass.success, *result.pass_to_pass.success}:
                statuses.setdefault(test, []).append("pass")
            for test in {*result.fail_to_pass.failure, *result.pass_to_pass.failure}:
                statuses.setdefault(test, []).append("fail")
        n = len(self.results)
        return {
            test: f"failed {seen.count('fail') + n - len(seen)} of {n}"
            for test, seen in sorted(statuses.items())
            if len(set(seen)) > 1 or (0 < len(seen) < n)
        }


def _gist(text: str, limit: int = 300) -> str:
    """The first line of ``text``, and its last when there are more (an error's message is often
    the last line of a quoted log), each cut to ``limit`` characters."""
    lines = [part.strip() for part in str(text).splitlines() if part.strip()]
    if not lines:
        return ""
    last = f" … {lines[-1][:limit]}" if len(lines) > 1 else ""
    return lines[0][:limit] + last


class Validator:
    """Validates instances with one evaluator, writing each verdict to the registry."""

    def __init__(
        self,
        evaluator: Evaluator,
        store: Store,
        log_root: Path,
        *,
        dataset: str,
        reruns: int = 2,
        jobs: int = 2,
        progress: Callable[[str], None] = print,
    ):
        self.evaluator = evaluator
        self.store = store
        self.log_root = Path(log_root)
        self.dataset = dataset
        self.reruns = reruns
        self.limiter = anyio.CapacityLimiter(max(1, jobs))
        self.progress = progress
        self.running: dict[str, float] = {}
        #: Set when SIGINT or SIGTERM stopped the validation.
        self.interrupted = False

    async def validate(
        self, instances: list[SWEInstance], *, again: bool = False, redo: frozenset[str] = frozenset()
    ) -> list[Validation]:
        """Validate ``instances``. Those the registry already holds are skipped, unless ``again``
        or their status is in ``redo``. A progress line per instance, and a heartbeat while
        evaluations run without finishing."""
        known = {
            row["instance_id"]: row["status"]
            for row in await self.store.validations(self.evaluator.name)
        }
        todo = [
            i for i in instances
            if again or i.instance_id not in known or known[i.instance_id] in redo
        ]  # fmt: skip
        if skipped := len(instances) - len(todo):
            self.progress(
                f"{skipped} instance(s) already in the registry (--again or --redo STATUS to redo them)"
            )
        done: list[Validation] = []
        started = time.monotonic()

        async def one(instance: SWEInstance) -> None:
            async with self.limiter:
                self.running[instance.instance_id] = time.monotonic()
                try:
                    verdict = await self.validate_one(instance)
                finally:
                    self.running.pop(instance.instance_id, None)
            await self.store.record_validation(
                instance.instance_id, self.evaluator.name, dataset=self.dataset, **verdict.fields()
            )
            done.append(verdict)
            why = f": {verdict.reason}" if verdict.reason and verdict.status != "valid" else ""
            self.progress(
                f"[{len(done)}/{len(todo)}] {verdict.status:<17} {instance.instance_id} "
                f"(setup {verdict.setup_s:.0f}s, tests {verdict.test_s:.0f}s){why}"
            )

        async def heartbeat(interval: float = 30.0) -> None:
            while True:
                await anyio.sleep(interval)
                if self.running:
                    oldest = min(self.running.values())
                    self.progress(
                        f"... {len(done)}/{len(todo)} done after {time.monotonic() - started:.0f}s; "
                        f"{len(self.running)} running (longest {time.monotonic() - oldest:.0f}s: "
                        "building environments or running tests)"
                    )

        async def signals(scope: anyio.CancelScope) -> None:
            # SIGINT/SIGTERM cancel the work, so every test run's process group is killed and
            # every worktree removed; what finished is already in the registry.
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                async for signum in received:
                    self.progress(f"received {signal.Signals(signum).name}: stopping; "
                                  f"{len(done)} verdict(s) are in the registry")
                    self.interrupted = True
                    scope.cancel()
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(heartbeat)
            tg.start_soon(signals, tg.cancel_scope)
            async with anyio.create_task_group() as work:
                for instance in todo:
                    work.start_soon(one, instance)
            tg.cancel_scope.cancel()
        return done

    async def _evaluate(self, instance: SWEInstance, patch: str, label: str) -> EvalResult:
        log_dir = self.log_root / safe_name(instance.instance_id) / f"{label}-{uuid.uuid4().hex[:6]}"
        return await self.evaluator.evaluate(
            EvalRequest(instance=instance, patch=patch, log_dir=log_dir, key=f"validate/{label}")
        )

    async def validate_one(self, instance: SWEInstance) -> Validation:
        """Gold, then empty, then reruns of whichever disagrees with what a valid row gives."""
        gold, empty = _Runs(), _Runs()
        verdict = Validation(instance, "infra")
        try:
            first = gold.add(await self._evaluate(instance, instance.patch, "gold"))
            verdict.setup_s = first.setup_s
            if first.resolved:
                empty.add(await self._evaluate(instance, "", "empty"))
            for _ in range(self.reruns if not first.resolved else 0):
                gold.add(await self._evaluate(instance, instance.patch, "gold"))
            if empty.results and empty.results[0].resolved:
                for _ in range(self.reruns):
                    empty.add(await self._evaluate(instance, "", "empty"))
        except SourceIncomplete as exc:
            return Validation(instance, "source_incomplete", reason=_gist(str(exc)))
        except AttemptError as exc:
            verdict.reason = f"{exc.error_class}: {_gist(str(exc))}"
            return verdict
        results = gold.results + empty.results
        verdict.runs = len(results)
        verdict.test_s = sum(max(0.0, r.duration_s - r.setup_s) for r in results)
        verdict.gold_resolved = all(r.resolved for r in gold.results)
        verdict.empty_resolved = any(r.resolved for r in empty.results) if empty.results else None
        return _classify(verdict, gold, empty)


def _classify(verdict: Validation, gold: _Runs, empty: _Runs) -> Validation:
    """The status of an instance from its gold and empty runs."""
    first = gold.results[0]
    if flips := {**gold.flipped(), **empty.flipped()}:
        verdict.status, verdict.flaky = "flaky", flips
        verdict.reason = f"{len(flips)} test(s) changed status between runs of the same patch"
        return verdict
    if not first.resolved:
        verdict.status = "env_broken"
        verdict.broken = sorted({*first.fail_to_pass.failure, *first.pass_to_pass.failure})
        cause = first.error_class or "tests"
        verdict.reason = f"gold does not resolve ({cause}): {_gist(first.detail)}"
        log = _read_log(first.log_path)
        if offline := _log_match(_OFFLINE, log):
            verdict.reason = f"needs the network (the log shows {offline!r}); " + verdict.reason
        elif cores := _log_match(_FEW_CORES, log):
            verdict.reason = (
                f"tests skip for want of CPUs ({cores!r}): the spec's nano_cpus asks for more than the "
                "host gives the tests (the docker evaluator grants it); " + verdict.reason
            )
        elif evidence := _evidence(log):
            verdict.reason = f"{evidence}; " + verdict.reason
        return verdict
    if empty.results and all(r.resolved for r in empty.results):
        verdict.status = "empty_resolves"
        verdict.reason = "the tests pass without any patch: the row cannot tell a fix from nothing"
        return verdict
    verdict.status = "valid"
    return verdict


#: What a test log says when a test wanted the internet and this host has none.
_OFFLINE = re.compile(
    r"Network is unreachable|Name or service not known|Temporary failure in name resolution|"
    r"nodename nor servname|No route to host|getaddrinfo failed|Failed to establish a new connection"
)


#: A test skipped because it sees too few CPUs (pylint: "Need 2 or more cores ...").
_FEW_CORES = re.compile(r"SKIPPED[^\n]*(?:[Nn]eed \d+ or more cores|not enough (?:cores|CPUs))[^\n]*")


#: A test module that could not be collected, and the first error line that says why.
_COLLECTION = re.compile(r"ERROR collecting (\S+).*?^E\s+([^\n]+)", re.S | re.M)
#: A test skipped for a missing optional dependency ("requires cftime", "Test requires sparse.").
_REQUIRES = re.compile(r"^SKIPPED \[\d+\] [^\n]*?: ((?:[Tt]est )?requires [\w.-]+)", re.M)


def _read_log(log_path: str | None) -> str:
    try:
        return Path(log_path).read_text(errors="replace") if log_path else ""
    except OSError:
        return ""


def _log_match(pattern: re.Pattern[str], text: str) -> str | None:
    """The first match of ``pattern`` in a test log's text, if any."""
    match = pattern.search(text)
    return match.group(0)[:160] if match else None


def _evidence(text: str) -> str | None:
    """What a test log says broke, when gold fails: a test module that does not import, or tests
    that skip for want of an optional package."""
    if collection := _COLLECTION.search(text):
        return f"a test module does not import ({collection.group(1)}: {collection.group(2).strip()[:160]!r})"
    if skips := list(dict.fromkeys(m.group(1).removeprefix("Test ").removeprefix("test ").rstrip(".") for m in _REQUIRES.finditer(text))):
        return "tests skip for want of optional packages (" + ", ".join(skips[:4]) + ")"
    return None


def tally(rows: list[dict[str, Any]]) -> Counter[str]:
    """How many registry rows have each status."""
    return Counter(str(row["status"]) for row in rows)
