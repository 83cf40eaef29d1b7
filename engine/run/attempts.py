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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from ..agents.base import AgentResult, AgentTask
from ..core.artifacts import safe_name
from ..core.errors import RETRYABLE, AttemptError, ErrorClass
from ..core.events import AgentStep, Alert, AttemptFinished, EvaluationDone, Outcome
from ..core.feedback import public_tests
from ..core.fsm import TERMINAL
from ..evaluators.base import EvalRequest, EvalResult
from ..models.base import SpendLimitReached

if TYPE_CHECKING:
    from .scheduler import InstanceTrack, Scheduler


class AttemptRunner:
    """Runs attempts for a scheduler, through its store, lanes, backends and state machines."""

    def __init__(self, scheduler: Scheduler):
        self.s = scheduler

    async def run(self, track: InstanceTrack, number: int) -> str:
        """Run attempt ``number`` of an instance to its outcome, retrying retryable failures."""
        s = self.s
        iid = track.instance.instance_id
        m = track.machine
        if m.state in TERMINAL:
            await s.transition(track, "queued", attempt=number)
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
                s.halt_for_budget(str(exc))
                raise Halted from None
            except AttemptError as exc:
                if exc.error_class in RETRYABLE and retries < s.options.max_retries:
                    retries += 1
                    await s.store.update_attempt(s.run_id, iid, number, retries=retries)
                    await s.emit(Alert(
                        level="warning", instance_id=iid,
                        message=f"{iid} attempt {number}: {exc.error_class}: {exc}; "
                        f"retry {retries} of {s.options.max_retries}",
                    ))
                    if patch is None:
                        await s.transition(track, "queued", attempt=number, detail=f"retry after {exc.error_class}")
                    elif m.state == "evaluating":
                        await s.transition(track, "eval_queued", detail=f"retry after {exc.error_class}")
                    await anyio.sleep(s.options.retry_backoff_s * 2 ** (retries - 1))
                    continue
                return await self._fail(track, number, exc.error_class, str(exc), agent)
            except Halted:
                raise
            except Exception as exc:  # a bug or an unexpected environment failure: never a crash
                return await self._fail(track, number, "infra", f"{type(exc).__name__}: {exc}", agent)

    async def _agent_stage(self, track: InstanceTrack, number: int, agent: AgentOutcome) -> str:
        s = self.s
        iid = track.instance.instance_id
        async with s.agent_lane:
            await s.resumed.wait()
            if s.budget_stop:
                raise Halted
            await s.store.start_attempt(s.run_id, iid, number)
            await s.transition(track, "preparing")
            began = time.monotonic()
            key = f"{safe_name(s.run_id)}/{safe_name(iid)}-{number}"
            try:
                sandbox = await s.sandboxes.create(track.instance, key)
            except AttemptError:
                raise
            except Exception as exc:
                raise AttemptError("infra", f"sandbox: {type(exc).__name__}: {exc}") from exc
            wall = s.options.budgets.max_wall_s
            try:
                await s.transition(track, "agent")
                task = AgentTask(
                    instance=track.instance,
                    run_id=s.run_id,
                    attempt=number,
                    budgets=s.options.budgets,
                    trajectory_path=s.folder.attempt_dir(iid, number) / "trajectory.json",
                    public_tests=public_tests(
                        iid, track.instance.FAIL_TO_PASS, s.options.public_share, s.options.split_seed
                    ),
                )
                with anyio.fail_after(wall if wall else math.inf):
                    result: AgentResult = await s.agent.run(task, sandbox, s.model, Reporter(s, track, number))
            except TimeoutError as exc:
                raise AttemptError("timeout", f"agent ran past its wall-time budget of {wall:.0f}s") from exc
            finally:
                with anyio.CancelScope(shield=True):
                    await sandbox.aclose()
            agent.seconds = time.monotonic() - began
            agent.error_class = result.error_class
            if result.error_class in RETRYABLE:
                raise AttemptError(result.error_class, result.detail or result.exit_status)  # type: ignore[arg-type]
            # Redacted before it touches the disk; what is saved is what is graded, now and on resume.
            path, sha, patch = s.folder.write_patch(iid, number, result.patch or "")
            await s.transition(track, "patched" if patch.strip() else "no_patch", attempt_fields=dict(
                status="agent_done", patch_path=str(path), patch_sha=sha,
                patch_bytes=len(patch), exit_status=result.exit_status, agent_done_at=time.time(),
                agent_s=agent.seconds, trajectory_path=result.trajectory_path,
                error_class=result.error_class, detail=result.detail or None,
            ))
            s.folder.append_prediction(iid, number, s.options.model_name, patch)
            return patch

    async def _eval_stage(self, track: InstanceTrack, number: int, patch: str, agent: AgentOutcome) -> str:
        s = self.s
        iid = track.instance.instance_id
        if track.machine.state != "eval_queued":
            await s.transition(track, "eval_queued")
        result: EvalResult | None = None
        while result is None:
            await s.resumed.wait()
            async with s.governor.eval_slot():
                if not s.resumed.is_set():
                    continue  # paused while waiting for the slot: give it back and wait
                await s.governor_event()
                await s.transition(track, "evaluating")
                result = await s.evaluator.evaluate(EvalRequest(
                    instance=track.instance,
                    patch=patch,
                    log_dir=s.folder.attempt_dir(iid, number),
                    run_id=s.run_id,
                    key=f"{safe_name(s.run_id)}/{safe_name(iid)}-{number}",
                ))
        await self._record_eval(track, number, result)
        outcome: Outcome = "resolved" if result.resolved else "unresolved"
        error_class = result.error_class or agent.error_class
        detail = result.detail
        track.outcomes[number] = outcome
        await s.transition(track, outcome, detail=detail, attempt_fields=dict(
            status="done", outcome=outcome, error_class=error_class,
            detail=detail or None, finished_at=time.time(), eval_s=result.duration_s, log_path=result.log_path,
        ))
        await s.emit(AttemptFinished(
            instance_id=iid, attempt=number, outcome=outcome, error_class=error_class, detail=detail,
            patch_bytes=len(patch), agent_s=agent.seconds, eval_s=result.duration_s,
        ))
        return outcome

    async def _record_eval(self, track: InstanceTrack, number: int, result: EvalResult) -> None:
        s = self.s
        iid = track.instance.instance_id
        await s.store.add_evaluation(
            s.run_id, iid, number, 0,
            evaluator=getattr(s.evaluator, "name", "?"), resolved=int(result.resolved),
            applied=int(result.applied), error_class=result.error_class, detail=result.detail,
            tests=result.tests, f2p=result.fail_to_pass.model_dump(), p2p=result.pass_to_pass.model_dump(),
            log_path=result.log_path, duration_s=result.duration_s, setup_s=result.setup_s,
        )
        s.folder.write_json(iid, number, "eval.json", result.model_dump())
        await anyio.to_thread.run_sync(s.folder.redact_attempt, iid, number)
        f2p, p2p = result.fail_to_pass, result.pass_to_pass
        await s.emit(EvaluationDone(
            instance_id=iid, attempt=number, resolved=result.resolved, applied=result.applied,
            error_class=result.error_class, duration_s=result.duration_s,
            f2p_passed=len(f2p.success), f2p_total=len(f2p.success) + len(f2p.failure),
            p2p_passed=len(p2p.success), p2p_total=len(p2p.success) + len(p2p.failure),
        ))

    async def _fail(
        self, track: InstanceTrack, number: int, error_class: ErrorClass, detail: str, agent: AgentOutcome
    ) -> str:
        s = self.s
        iid = track.instance.instance_id
        with anyio.CancelScope(shield=True):
            track.outcomes[number] = "error"
            await s.transition(track, "error", error_class=error_class, detail=detail[:500], attempt_fields=dict(
                status="done", outcome="error", error_class=error_class, detail=detail[:2000],
                finished_at=time.time(),
            ))
            await s.emit(AttemptFinished(
                instance_id=iid, attempt=number, outcome="error", error_class=error_class,
                detail=detail[:500], agent_s=agent.seconds,
            ))
        return "error"


class Halted(Exception):
    """An attempt the budget stop kept from starting, or refused a model call: re-run on resume."""


@dataclass
class AgentOutcome:
    """What the agent stage of an attempt left behind for the evaluation stage."""

    seconds: float = 0.0
    error_class: ErrorClass | None = None


class Reporter:
    """AgentReporter: sub-states and steps go to the store and the display as they happen."""

    def __init__(self, scheduler: Scheduler, track: InstanceTrack, attempt: int):
        self.s = scheduler
        self.track = track
        self.attempt = attempt
        self.step_index = 0
        self.sub = ""

    async def sub_state(self, name: str, detail: str = "") -> None:
        self.sub = name
        await self.s.store.set_instance(self.s.run_id, self.track.instance.instance_id, sub_state=name)
        await self.s.emit(AgentStep(
            instance_id=self.track.instance.instance_id, attempt=self.attempt,
            step=self.step_index, sub_state=name, summary=detail,
        ))

    async def step(self, index: int, summary: str, data: dict[str, Any] | None = None) -> None:
        self.step_index = index
        await self.s.emit(AgentStep(
            instance_id=self.track.instance.instance_id, attempt=self.attempt,
            step=index, sub_state=self.sub, summary=summary[:500],
        ))
