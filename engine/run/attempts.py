"""One attempt of one instance, from a fresh sandbox to a graded outcome.

The scheduler decides *which* attempt runs and *when*; this module runs it. The agent stage holds a
slot in the agent lane, prepares a sandbox, runs the agent under its wall-time budget and saves the
patch (store first, then predictions.jsonl); the evaluation stage waits for the governor, evaluates,
records the grade and redacts the attempt's folder. Retryable failures (infra, rate_limit, timeout,
eval_flaky) are retried with exponential backoff, from the agent stage or, when the patch is already
saved, from the evaluation; anything else ends the attempt as an error with its class. A budget stop
leaves the attempt in flight, to be re-run on resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ..agents.base import AgentResult, AgentTask
from ..core import progress
from ..core.errors import RETRYABLE, AttemptError, ErrorClass
from ..core.events import AgentStep, Alert, AttemptFinished, EvaluationDone, Outcome
from ..core.feedback import public_tests
from ..core.fsm import TERMINAL
from ..evaluators.base import EvalRequest, EvalResult
from ..models.base import SpendLimitReached
from ..sandbox.base import NoSandbox
from .context import Write

if TYPE_CHECKING:
    from .context import RunContext
    from .scheduler import InstanceTrack


T = TypeVar("T")


class AttemptRunner:
    """Runs the attempts the scheduler asks for, through the run context: its store, lanes,
    backends and signals."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

    async def run(self, track: InstanceTrack, number: int) -> str:
        """Run attempt ``number`` of an instance to its outcome, retrying retryable failures."""
        c = self.ctx
        iid = track.instance.instance_id
        m = track.machine
        if m.state in TERMINAL:
            await c.transition(track, "queued", attempt=number)
        m.attempt = number
        retries = 0
        saved = track.resume_patch.pop(number, None)
        patch: str | None = saved.text if saved else None
        agent = AgentOutcome(saved.agent_s, saved.error_class) if saved else AgentOutcome()
        while True:
            try:
                if patch is None:
                    patch = await self._agent_stage(track, number, agent)
                return await self._eval_stage(track, number, patch, agent)
            except SpendLimitReached as exc:
                c.signals.halt_for_budget(str(exc))
                raise Halted from None
            except AttemptError as exc:
                if exc.error_class in RETRYABLE and retries < c.options.max_retries:
                    retries += 1
                    await c.store.update_attempt(c.run_id, iid, number, retries=retries)
                    await c.emit(Alert(
                        level="warning", instance_id=iid,
                        message=f"{iid} attempt {number}: {exc.error_class}: {exc}; "
                        f"retry {retries} of {c.options.max_retries}",
                    ))
                    if patch is None:
                        await c.transition(track, "queued", attempt=number, detail=f"retry after {exc.error_class}")
                    elif m.state == "evaluating":
                        await c.transition(track, "eval_queued", detail=f"retry after {exc.error_class}")
                    await anyio.sleep(c.options.retry_backoff_s * 2 ** (retries - 1))
                    continue
                return await self._fail(track, number, exc.error_class, str(exc), agent)
            except Halted:
                raise
            except Exception as exc:  # a bug or an unexpected environment failure: never a crash
                return await self._fail(track, number, "infra", f"{type(exc).__name__}: {exc}", agent)

    async def _agent_stage(self, track: InstanceTrack, number: int, agent: AgentOutcome) -> str:
        c = self.ctx
        iid = track.instance.instance_id
        async with c.agent_lane:
            if not c.signals.resumed.is_set():  # waiting on a set event still costs a loop pass
                await c.signals.resumed.wait()
            if c.signals.budget_stop:
                raise Halted
            agent_backend = c.backends.agent
            uses_sandbox = getattr(agent_backend, "uses_sandbox", True)
            # The attempt's start and `preparing` are one write; without a sandbox to make, `agent` too.
            start = Write(statements=c.store.attempt_start(c.run_id, iid, number))
            pending = await c.transition(track, "preparing", joined=start, defer=not uses_sandbox)
            began = time.monotonic()
            key = c.attempt_key(iid, number)
            try:
                with progress.reporting(Reporter(c, track, number).sub_state):  # a repo fetch says so
                    sandbox = (await c.backends.sandboxes.create(track.instance, key)
                               if uses_sandbox else NoSandbox(agent_backend.name))  # fmt: skip
            except AttemptError:
                raise
            except Exception as exc:
                raise AttemptError("infra", f"sandbox: {type(exc).__name__}: {exc}") from exc
            wall = c.options.budgets.max_wall_s
            try:
                await c.transition(track, "agent", joined=pending)
                task = AgentTask(
                    instance=track.instance,
                    run_id=c.run_id,
                    attempt=number,
                    budgets=c.options.budgets,
                    trajectory_path=c.folder.attempt_dir(iid, number) / "trajectory.json",
                    public_tests=public_tests(
                        iid, track.instance.FAIL_TO_PASS, c.options.public_share, c.options.split_seed
                    ),
                )
                with anyio.fail_after(wall if wall else math.inf):
                    result: AgentResult = await c.backends.agent.run(task, sandbox, c.backends.model, Reporter(c, track, number))
            except TimeoutError as exc:
                raise AttemptError("timeout", f"agent ran past its wall-time budget of {wall:.0f}s") from exc
            finally:
                with anyio.CancelScope(shield=True):
                    await sandbox.aclose()
        # The agent's work is done: its lane slot goes to the next attempt while this one saves.
        agent.seconds = time.monotonic() - began
        agent.error_class = result.error_class
        if result.error_class in RETRYABLE:
            raise AttemptError(result.error_class, result.detail or result.exit_status)  # type: ignore[arg-type]
        # Redacted before it touches the disk; what is saved is what is graded, now and on resume.
        # Written (renamed into place) before the store says agent_done.
        path, sha, patch = await small_on_loop(len(result.patch or ""), c.folder.write_patch, iid, number, result.patch or "")
        done = await c.transition(track, "patched" if patch.strip() else "no_patch", attempt_fields=dict(
            status="agent_done", patch_path=str(path), patch_sha=sha,
            patch_bytes=len(patch), exit_status=result.exit_status, agent_done_at=time.time(),
            agent_s=agent.seconds, trajectory_path=result.trajectory_path,
            error_class=result.error_class, detail=result.detail or None,
        ), defer=True)
        await c.transition(track, "eval_queued", joined=done)  # the agent stage's one write
        c.folder.append_prediction(iid, number, c.options.model_name, patch)
        return patch

    async def _eval_stage(self, track: InstanceTrack, number: int, patch: str, agent: AgentOutcome) -> str:
        c = self.ctx
        iid = track.instance.instance_id
        if track.machine.state != "eval_queued":
            await c.transition(track, "eval_queued")
        result: EvalResult | None = None
        while result is None:
            await c.signals.resumed.wait()
            async with c.governor.eval_slot():
                if not c.signals.resumed.is_set():
                    continue  # paused while waiting for the slot: give it back and wait
                await c.governor_event()
                await c.transition(track, "evaluating")
                request = EvalRequest(
                    instance=track.instance, patch=patch, log_dir=c.folder.attempt_dir(iid, number),
                    run_id=c.run_id, key=c.attempt_key(iid, number), attempt=number, model=c.backends.model,
                )
                # Environment build steps and the tests report as sub-states of `evaluating`.
                with progress.reporting(Reporter(c, track, number).sub_state):
                    result = await c.backends.evaluator.evaluate(request)
        graded = await self._record_eval(track, number, result)
        outcome: Outcome = "resolved" if result.resolved else "unresolved"
        error_class = result.error_class or agent.error_class
        detail = result.detail
        track.outcomes[number] = outcome
        await c.transition(track, outcome, detail=detail, joined=graded, attempt_fields=dict(
            status="done", outcome=outcome, error_class=error_class,
            detail=detail or None, finished_at=time.time(), eval_s=result.duration_s, log_path=result.log_path,
        ), also=AttemptFinished(
            run_id=c.run_id, instance_id=iid, attempt=number, outcome=outcome, error_class=error_class,
            detail=detail, patch_bytes=len(patch), agent_s=agent.seconds, eval_s=result.duration_s,
        ))
        return outcome

    async def _record_eval(self, track: InstanceTrack, number: int, result: EvalResult) -> Write:
        """The attempt's files (eval.json; every file redacted), then its evaluation row and
        EvaluationDone event, returned to be written with the attempt's outcome."""
        c = self.ctx
        iid = track.instance.instance_id
        # eval.json on the loop (JSON of one instance's tests: the GIL would serialise its dump in a
        # thread too), then the files backends wrote, redacted in a worker thread (logs can be big).
        c.folder.write_json(iid, number, "eval.json", result.model_dump(mode="json"), native=True)
        if foreign := c.folder.foreign_files(iid, number):
            await anyio.to_thread.run_sync(c.folder.redact_files, foreign)
        row = c.store.evaluation_insert(c.run_id, iid, number, 0, dict(
            evaluator=c.backends.evaluator.name, resolved=int(result.resolved),
            applied=int(result.applied), error_class=result.error_class, detail=result.detail,
            tests=result.tests, f2p=result.fail_to_pass.model_dump(), p2p=result.pass_to_pass.model_dump(),
            log_path=result.log_path, duration_s=result.duration_s, setup_s=result.setup_s,
            **({"checks": result.checks} if result.checks else {}),
        ))
        f2p, p2p = result.fail_to_pass, result.pass_to_pass
        return Write(statements=[row], events=[EvaluationDone(
            run_id=c.run_id,
            instance_id=iid, attempt=number, resolved=result.resolved, applied=result.applied,
            error_class=result.error_class, duration_s=result.duration_s,
            f2p_passed=len(f2p.success), f2p_total=len(f2p.success) + len(f2p.failure),
            p2p_passed=len(p2p.success), p2p_total=len(p2p.success) + len(p2p.failure),
            syntax_valid=result.checks.get("syntax_valid"), degenerate=result.checks.get("degenerate"),
        )])

    async def _fail(
        self, track: InstanceTrack, number: int, error_class: ErrorClass, detail: str, agent: AgentOutcome
    ) -> str:
        c = self.ctx
        iid = track.instance.instance_id
        with anyio.CancelScope(shield=True):
            track.outcomes[number] = "error"
            await c.transition(track, "error", error_class=error_class, detail=detail[:500], attempt_fields=dict(
                status="done", outcome="error", error_class=error_class, detail=detail[:2000],
                finished_at=time.time(),
            ), also=AttemptFinished(
                run_id=c.run_id, instance_id=iid, attempt=number, outcome="error", error_class=error_class,
                detail=detail[:500], agent_s=agent.seconds,
            ))
        return "error"


#: Files up to this size are written on the event loop: without an fsync a write lands in the page
#: cache in microseconds, and a hop to a worker thread and back cost more CPU than the write.
#: Bigger ones go to a worker thread, where the wait for a busy disk does not stall the loop.
SMALL_WRITE_BYTES = 1 << 20


async def small_on_loop(size: int, func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` on the loop when it writes ``size`` bytes or fewer, else in a worker thread."""
    if size <= SMALL_WRITE_BYTES:
        return func(*args)
    return await anyio.to_thread.run_sync(func, *args)


class Halted(Exception):
    """An attempt the budget stop kept from starting, or refused a model call: re-run on resume."""


@dataclass
class AgentOutcome:
    """What the agent stage of an attempt left behind for the evaluation stage."""

    seconds: float = 0.0
    error_class: ErrorClass | None = None


class Reporter:
    """AgentReporter: sub-states and steps go to the store and the display as they happen."""

    def __init__(self, ctx: RunContext, track: InstanceTrack, attempt: int):
        self.ctx = ctx
        self.track = track
        self.attempt = attempt
        self.step_index = 0
        self.sub = ""

    async def sub_state(self, name: str, detail: str = "") -> None:
        self.sub = name
        await self.ctx.store.set_instance(self.ctx.run_id, self.track.instance.instance_id, sub_state=name)
        await self.ctx.emit(AgentStep(
            instance_id=self.track.instance.instance_id, attempt=self.attempt,
            step=self.step_index, sub_state=name, summary=detail,
        ))

    async def step(self, index: int, summary: str, data: dict[str, Any] | None = None) -> None:
        self.step_index = index
        await self.ctx.emit(AgentStep(
            instance_id=self.track.instance.instance_id, attempt=self.attempt,
            step=index, sub_state=self.sub, summary=summary[:500],
        ))
