"""The scheduler: phases → instances → attempts, on two concurrent lanes.

Each instance has a driver coroutine that runs its attempts one after another. An attempt takes a
slot in the *agent lane* (a capacity limiter sized by the agent/provider concurrency), prepares a
sandbox, runs the agent and saves the patch; it then leaves the agent lane and waits for the
*evaluation lane*, where the governor admits it against measured CPU, memory and disk. So while one
instance is being evaluated, others are being worked on by the agent. (engine.run.attempts runs one
attempt; this module decides which attempt runs and when.)

Durability: every transition is written to the store before it is shown. An attempt whose agent
finished keeps its patch; if the process dies during evaluation, a restart evaluates that saved
patch again instead of re-running the agent. Attempts that were mid-agent are re-run. Attempts are
keyed by number, so nothing is duplicated.

Control: the commands table (pause, resume, stop, approve, reject, rerun, rerun-failed) is polled;
SIGINT/SIGTERM cancel the work cleanly with everything saved (exit code 130).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Protocol

import anyio
from anyio.abc import TaskGroup

from ..core.errors import ErrorClass
from ..core.events import Alert, CommandHandled, Outcome, PhaseFinished, PhaseStarted, RunStatus
from ..core.fsm import TERMINAL, InstanceMachine, best_outcome, rerun_failed_picks
from ..datasets.rows import TaskRow
from .attempts import AttemptRunner, Halted
from .context import RunContext

COMMAND_POLL_S = 0.3
HEARTBEAT_S = 5.0

class GateKeeper(Protocol):
    """Decides, after each phase, whether the run goes on. Implemented in engine.run.gatekeeper."""

    async def decide(self, ctx: RunContext, phase: int, last: bool) -> str:
        """Return "proceed" or "stop"."""
        ...


class PassGate:
    """The gate of a run without gate rules: always proceed."""

    async def decide(self, ctx: RunContext, phase: int, last: bool) -> str:
        return "proceed"


@dataclass(frozen=True)
class SavedPatch:
    """An attempt whose agent finished before the process died: its patch is graded on resume,
    and what the agent stage recorded (its time, its error class) is kept, not re-measured."""

    text: str
    agent_s: float = 0.0
    error_class: ErrorClass | None = None


@dataclass
class InstanceTrack:
    """What the scheduler knows about one instance."""

    instance: TaskRow
    phase: int
    machine: InstanceMachine
    outcomes: dict[int, str] = field(default_factory=dict)
    extra_attempts: int = 0
    resume_patch: dict[int, SavedPatch] = field(default_factory=dict)
    active: bool = False

    @property
    def done(self) -> int:
        return len(self.outcomes)

    def outcome(self) -> Outcome | None:
        return best_outcome(self.outcomes.values())


class Scheduler:
    """Runs a run's phases through its context; the gate decides between them."""

    def __init__(self, ctx: RunContext, *, gate: GateKeeper | None = None):
        self.ctx = ctx
        self.run_id = ctx.run_id
        self.phases = ctx.plan.phases
        self.options = ctx.options
        self.store = ctx.store
        self.signals = ctx.signals
        self.gate = gate or PassGate()
        self.tracks: dict[str, InstanceTrack] = {
            iid: InstanceTrack(instance=inst, phase=ctx.plan.phase_of[iid],
                               machine=InstanceMachine(ctx.run_id, iid, "queued", 0))
            for iid, inst in ctx.plan.instances.items()
        }
        self.current_phase = 0
        self._active = 0
        self._idle = anyio.Event()
        self._idle.set()
        self._work_tg: TaskGroup | None = None
        self.attempts = AttemptRunner(ctx)

    @property
    def status(self) -> RunStatus:
        return self.signals.status

    @property
    def budget_stop(self) -> str:
        return self.signals.budget_stop

    # -- restore -------------------------------------------------------------------------------

    async def restore(self) -> int:
        """Load what a previous process left in the store; return how many attempts are re-run.

        Finished attempts are kept. An attempt whose agent had finished keeps its saved patch and
        goes back to the evaluation queue; anything else that was in flight is queued again.
        """
        rows = {r["instance_id"]: r for r in await self.store.instances(self.run_id)}
        for a in await self.store.attempts(self.run_id):
            track = self.tracks.get(a["instance_id"])
            if track is None:
                continue
            if a["status"] == "done":
                track.outcomes[a["attempt"]] = a["outcome"]
            elif a["status"] == "agent_done" and a["patch_path"] and os.path.exists(a["patch_path"]):
                with open(a["patch_path"], encoding="utf-8") as fh:
                    track.resume_patch[a["attempt"]] = SavedPatch(fh.read(), a["agent_s"] or 0.0, a["error_class"])
        requeued = 0
        for iid, track in self.tracks.items():
            row = rows.get(iid)
            if row is None:
                continue
            track.machine.state = row["state"]
            track.machine.attempt = row["attempt"]
            track.extra_attempts = row["extra_attempts"]
            state = row["state"]
            number = max(row["attempt"], 1)
            if state not in TERMINAL and number in track.outcomes:
                # The attempt finished but its instance row did not say so (a store written before
                # attempt and instance were updated together): settle the instance on that outcome.
                track.machine.state = track.outcomes[number]
                await self.store.set_instance(
                    self.run_id, iid, state=track.machine.state, outcome=track.outcome(), sub_state=None
                )
                continue
            if state in TERMINAL or state == "queued":
                continue
            requeued += 1
            if number in track.resume_patch:
                how = "restarted: its saved patch is evaluated again"
                patch = track.resume_patch[number].text
                if state == "agent":
                    await self.ctx.transition(track, "patched" if patch.strip() else "no_patch")
                if track.machine.state != "eval_queued":
                    await self.ctx.transition(track, "eval_queued", detail=how)
            else:
                how = "restarted: the attempt in flight is re-run from the start"
                await self.ctx.transition(track, "queued", attempt=number, detail=how)
            await self.ctx.emit(Alert(level="info", instance_id=iid, message=f"{iid} attempt {number} {how}"))
        return requeued

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> RunStatus:
        """Run every phase; return the final status (completed, stopped, interrupted, gate_stop)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.ctx.governor.run)
            tg.start_soon(self._command_loop)
            tg.start_soon(self._heartbeat)
            tg.start_soon(self._signals, tg.cancel_scope)
            try:
                async with anyio.create_task_group() as work:
                    self._work_tg = work
                    work.start_soon(self._phases)
            finally:
                self._work_tg = None
                tg.cancel_scope.cancel()
        signals = self.signals
        if signals.stop_status is not None:
            signals.status = signals.stop_status
        elif signals.status in ("running", "paused"):
            signals.status = "completed"
        return signals.status

    async def _phases(self) -> None:
        done_phases = {p["phase"] for p in await self.store.phases(self.run_id) if p["status"] == "done"}
        for index, size in enumerate(self.phases):
            self.current_phase = index
            ids = [iid for iid, t in self.tracks.items() if t.phase <= index]
            if index not in done_phases:
                await self.store.update_phase(self.run_id, index, status="running")
                await self.ctx.emit(PhaseStarted(phase=index, size=size, instance_ids=ids))
            for iid in ids:
                self._spawn(self.tracks[iid])
            await self._wait_idle()
            if self.budget_stop:
                return
            if index in done_phases:
                continue
            await self.ctx.emit(PhaseFinished(phase=index))
            decision = await self.gate.decide(self.ctx, index, last=index == len(self.phases) - 1)
            await self.store.update_phase(self.run_id, index, status="done")
            if decision == "stop":
                self.signals.stop("gate_stop", f"gate {index + 1} said STOP")
                return
        # Reruns asked for while the last phase was finishing are honoured before the run ends.
        await self._wait_idle()

    async def _wait_idle(self) -> None:
        while self._active:
            await self._idle.wait()

    def allowed_attempts(self, track: InstanceTrack) -> int:
        """Attempts the policy wants for this instance, plus any the operator asked for."""
        k = self.options.attempts
        if self.options.attempt_policy == "until-resolved":
            resolved = [n for n, o in track.outcomes.items() if o == "resolved" and n <= k]
            if resolved:
                k = min(resolved)
        return k + track.extra_attempts

    def _spawn(self, track: InstanceTrack) -> None:
        if track.active or track.done >= self.allowed_attempts(track) or self._work_tg is None:
            return
        track.active = True
        self._active += 1
        if self._idle.is_set():  # replace only a spent event: a waiter may hold the current one
            self._idle = anyio.Event()
        self._work_tg.start_soon(self._drive, track)

    async def _drive(self, track: InstanceTrack) -> None:
        """Run an instance's attempts one after another, as long as the policy wants more."""
        try:
            while track.done < self.allowed_attempts(track) and not self.budget_stop:
                await self.signals.resumed.wait()
                number = track.done + 1
                try:
                    track.outcomes[number] = await self.attempts.run(track, number)
                except Halted:
                    break
        finally:
            track.active = False
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    # -- control -------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await self.store.update_run(self.run_id, heartbeat=time.time(), status=self.status)
            await self.ctx.governor_event()
            await anyio.sleep(HEARTBEAT_S)

    async def _signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                self.signals.stop("interrupted", f"received {signal.Signals(signum).name}")
                scope.cancel()
                return

    async def _command_loop(self) -> None:
        while True:
            for cmd in await self.store.pending_commands(self.run_id):
                status, result = await self.handle_command(cmd["command"], cmd["arg"])
                await self.store.finish_command(cmd["id"], status, result)
                await self.ctx.emit(CommandHandled(
                    command_id=cmd["id"], command=cmd["command"], arg=cmd["arg"], result=result
                ))
            await anyio.sleep(COMMAND_POLL_S)

    async def handle_command(self, command: str, arg: str) -> tuple[str, str]:
        """Apply one operator command; returns (status, result) for the commands table."""
        if command == "pause":
            self.signals.pause()
            await self.store.update_run(self.run_id, status="paused")
            return "done", "paused: attempts in flight finish, no new work starts"
        if command == "resume":
            self.signals.resume()
            await self.store.update_run(self.run_id, status="running")
            return "done", "resumed"
        if command == "stop":
            self.signals.stop("stopped", "stopped by operator")
            self.signals.resumed.set()
            if self._work_tg is not None:
                self._work_tg.cancel_scope.cancel()
            return "done", "stopping; in-flight attempts are saved and re-run on resume"
        if command in ("approve", "reject"):
            # The gate keeper reads decisions from the commands table itself (engine.run.gatekeeper).
            return "done", f"{command}: read by the gate of phase {self.current_phase + 1} if it is waiting"
        if command == "rerun":
            track = self.tracks.get(arg)
            if track is None:
                return "rejected", f"unknown instance {arg!r}"
            await self._add_attempt(track)
            return "done", f"queued attempt {self.allowed_attempts(track)} of {arg}"
        if command == "rerun-failed":
            failed = [t for t in self.tracks.values() if rerun_failed_picks(t.done, t.active, t.outcome())]
            for track in failed:
                await self._add_attempt(track)
            return "done", ",".join(t.instance.instance_id for t in failed) or "nothing to rerun"
        return "rejected", f"unknown command {command!r}"

    async def _add_attempt(self, track: InstanceTrack) -> None:
        """One more attempt for an instance, beyond what the policy asked for; persisted."""
        track.extra_attempts += 1
        await self.store.set_instance(self.run_id, track.instance.instance_id, extra_attempts=track.extra_attempts)
        self._spawn(track)

    # -- results -------------------------------------------------------------------------------

    def outcomes(self) -> dict[str, Outcome | None]:
        return {iid: track.outcome() for iid, track in self.tracks.items()}

    @property
    def stop_reason(self) -> str:
        return self.signals.stop_reason
