"""The control room app: one run, read through the store, acted on through its commands table.

Data path (the same for ``ramp run`` in this process and ``ramp watch`` from another): a thread
worker follows the store with :class:`engine.results.runfeed.RunFeed` (events by seq, folded by the pure
reducer in engine.results.runview) and posts :class:`~tui.messages.RunUpdated` snapshots, at most every
``MIN_GAP_S`` and at least every ``TICK_S`` (clocks move even when nothing happens). Snapshots
coalesce (``can_replace``), so a slow terminal never queues work and never slows the engine. The
app sets the latest snapshot as an attribute; screens watch it and hand it down to their widgets.

In process, the engine's ``execute_run`` runs as an async worker on this event loop and the app is
its Display: ``show`` only wakes the feed thread, so the engine never waits on drawing. Quitting
an in-process run asks first, then writes ``stop`` (the run stays resumable) and exits when the
engine has wound down; quitting ``watch`` just detaches.
"""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.worker import Worker, WorkerState, get_current_worker

from engine.core.errors import ExitCode
from engine.core.events import Event
from engine.results.runfeed import RunFeed
from engine.results.runview import RunSnapshot

from .control import Control
from .glyphs import Glyphs, detect
from .messages import CommandSent, EngineFinished, RunUpdated
from .query import failed_rows
from .screens.dashboard import DashboardScreen
from .screens.detail import DetailScreen
from .screens.dialogs import ConfirmScreen, HelpScreen
from .screens.gates import GatesScreen
from .screens.leaderboard import LeaderboardScreen
from .widgets.instance_table import InstanceTable

MIN_GAP_S = 0.2   # at most five snapshots a second
TICK_S = 1.0      # elapsed time, durations and stuck alerts move even without events
POLL_S = 0.25     # how long the feed sleeps when the engine has not woken it

#: Footer groups: an 80-column footer has room for every key only when related keys share a label.
RERUN = Binding.Group("rerun")
GATE = Binding.Group("gate")


class RampApp(App[int]):
    TITLE = "Ramp"
    CSS_PATH = "ramp.tcss"
    MODES = {"dashboard": DashboardScreen, "gates": GatesScreen, "leaderboard": LeaderboardScreen}
    DEFAULT_MODE = "dashboard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("r", "rerun", "rerun", group=RERUN),
        Binding("R", "rerun_failed", "rerun failed", key_display="R", group=RERUN),
        Binding("a", "approve", "approve gate", group=GATE),
        Binding("x", "reject", "reject gate", group=GATE),
        Binding("p", "pause", "pause"),
        Binding("1", "switch_mode('dashboard')", "dashboard", show=False),
        Binding("2", "switch_mode('gates')", "phases and gates", show=False),
        Binding("3", "switch_mode('leaderboard')", "leaderboard", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ]

    #: The wall clock the feed stamps snapshots with; tests freeze it.
    clock = staticmethod(time.time)

    snapshot: reactive[RunSnapshot | None] = reactive(None, always_update=True)

    def __init__(
        self,
        runs_dir: Path,
        run_id: str,
        *,
        settings: Any = None,
        glyphs: Glyphs | None = None,
        resume_command: str | None = None,
    ) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.db_path = self.runs_dir / "ramp.sqlite"
        self.run_id = run_id
        #: Settings of a run to execute in this process; None when attached (``ramp watch``).
        self.settings = settings
        self.glyphs = glyphs or detect()
        #: The command line that resumes this in-process run (``ramp demo ...`` for a demo).
        self.resume_command = resume_command or f"ramp run --run-id {run_id}"
        self.control = Control(self.db_path, run_id)
        self.selected: str | None = None
        self.exit_code = 0
        #: Why the in-process run failed, if it did (printed again after the app closes).
        self.engine_error = ""
        self._wake = threading.Event()
        self._engine: Worker[int] | None = None
        self._scheduler: Any = None
        self._quitting = False
        if self.glyphs.ascii:
            self.add_class("-ascii")

    @property
    def in_process(self) -> bool:
        return self.settings is not None

    @property
    def engine_running(self) -> bool:
        return self._engine is not None and not self._engine.is_finished

    def on_mount(self) -> None:
        self.title = f"Ramp {self.run_id}"
        self.follow_store()
        if self.in_process:
            self._engine = self.run_worker(self._run_engine(), group="engine", exit_on_error=False)

    def get_key_display(self, binding: Binding) -> str:
        if binding.key == "enter":
            return self.glyphs.enter
        return super().get_key_display(binding)

    # -- Display: the engine's sink when it runs in this process -------------------------------

    def show(self, event: Event) -> None:
        """The event is already in the store: wake the feed so it shows up now rather than later."""
        self._wake.set()

    def close(self) -> None:
        self._wake.set()

    # -- workers -------------------------------------------------------------------------------

    async def _run_engine(self) -> int:
        from engine.run.runner import execute_run

        result = await execute_run(self.settings, display=self, run_id=self.run_id, on_scheduler=self._scheduler_ready)
        return result.exit_code

    def _scheduler_ready(self, scheduler: Any) -> None:
        self._scheduler = scheduler

    @work(thread=True, exclusive=True, group="feed", exit_on_error=False)
    def follow_store(self) -> None:
        """Fold the store into snapshots and post them, coalesced (see the module docstring)."""
        worker = get_current_worker()
        feed = RunFeed(self.db_path, self.run_id)
        last_post, pending, frozen = 0.0, True, False
        try:
            while not worker.is_cancelled:
                pending = feed.poll() or pending
                if not frozen and not feed.behind:
                    # The folded history lives as long as the app: the cyclic collector stops walking
                    # it at every full collection, which took 75-120 ms at 2,300 instances and
                    # 91,000 events (a keypress that met one took as long).
                    gc.freeze()
                    frozen = True
                now = time.monotonic()
                if (pending and now - last_post >= MIN_GAP_S) or now - last_post >= TICK_S:
                    self.post_message(RunUpdated(feed.snapshot(self.clock())))
                    last_post, pending = now, False
                if not feed.behind:
                    self._wake.wait(POLL_S)
                    self._wake.clear()
        finally:
            feed.close()

    def on_run_updated(self, message: RunUpdated) -> None:
        self.snapshot = message.snapshot

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker's end is handled here: the engine's result or error, a failed store read."""
        worker = event.worker
        if worker.group == "feed" and event.state == WorkerState.ERROR:
            self.notify(f"reading the store failed: {worker.error}; retrying", severity="error")
            self.set_timer(1.0, self.follow_store)
        elif worker.group == "engine" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                          WorkerState.CANCELLED):
            error = worker.error
            if event.state == WorkerState.SUCCESS:
                self.exit_code = int(worker.result or 0)
            else:
                self.exit_code = int(getattr(error, "exit_code", ExitCode.INFRA)) if error else ExitCode.INTERRUPTED
                self.engine_error = str(error) if error else ""
            self._wake.set()
            self.post_message(EngineFinished(self.exit_code, str(error) if error else ""))
        elif worker.group == "control" and event.state == WorkerState.ERROR:
            self.notify(f"command failed: {worker.error}", severity="error")

    def on_engine_finished(self, message: EngineFinished) -> None:
        if self._quitting:
            self.exit(message.exit_code)
        elif message.error:
            self.notify(message.error, title="the run failed", severity="error", timeout=30)
        else:
            self.notify(f"the run ended with exit code {message.exit_code}", title="run finished")

    # -- selection (messages up from the instance table) ---------------------------------------

    def on_instance_table_highlighted(self, message: InstanceTable.Highlighted) -> None:
        self.selected = message.instance_id

    # -- run actions: each writes one command ---------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A dialog answers its own keys only: no second dialog, mode switch or command under it."""
        return action == "pop_screen" or not isinstance(self.screen, ModalScreen)

    def send(self, command: str, arg: str = "") -> None:
        self.run_worker(self._send(command, arg), group="control", exit_on_error=False)

    async def _send(self, command: str, arg: str) -> None:
        command_id = await self.control.send(command, arg)
        self.post_message(CommandSent(command, arg, command_id))
        live = self.snapshot is not None and self.snapshot.status in ("running", "paused")
        note = "" if live else " (the run is not running: it applies when the run is resumed)"
        self.notify(f"sent {command} {arg}".rstrip() + f" (#{command_id}){note}")

    def confirm(self, question: str, command: str, arg: str = "") -> None:
        def decided(yes: bool | None) -> None:
            if yes:
                self.send(command, arg)

        self.push_screen(ConfirmScreen(question), decided)

    def action_rerun(self) -> None:
        if self.selected is None:
            self.notify("select an instance first", severity="warning")
        else:  # it changes the run, like every other such key: asked first
            self.confirm(f"Rerun {self.selected} with one more attempt?", "rerun", self.selected)

    def action_rerun_failed(self) -> None:
        failed = failed_rows(self.snapshot.rows if self.snapshot else ())
        if not failed:
            self.notify("no finished instance is unresolved", severity="warning")
            return
        self.confirm(f"Rerun {len(failed)} unresolved instance(s) with one more attempt each?", "rerun-failed")

    def _gate_action(self, command: str) -> None:
        gate = self.snapshot.awaiting if self.snapshot else None
        if gate is None or gate.verdict is None:
            self.notify("no gate is waiting for a decision", severity="warning")
            return
        verdict = gate.verdict
        verb = "Approve" if command == "approve" else "Reject"
        after = f"phase {gate.index + 2} starts" if command == "approve" else "the run ends (gate_stop)"
        self.confirm(f"{verb} gate {gate.index + 1}?\n{verdict.tier}: {verdict.rule}\nThen {after}.", command)

    def action_approve(self) -> None:
        self._gate_action("approve")

    def action_reject(self) -> None:
        self._gate_action("reject")

    def action_pause(self) -> None:
        paused = self.snapshot is not None and self.snapshot.status == "paused"
        self.send("resume" if paused else "pause")

    def action_help(self) -> None:
        self.push_screen(HelpScreen([
            ("everywhere", list(self.BINDINGS)),
            ("instance table", list(InstanceTable.BINDINGS)),
            ("dashboard", list(DashboardScreen.BINDINGS)),
            ("instance detail", list(DetailScreen.BINDINGS)),
            ("leaderboard", list(LeaderboardScreen.BINDINGS)),
        ]))

    async def action_quit(self) -> None:
        if not self.engine_running:
            self.exit(self.exit_code)
            return

        def decided(yes: bool | None) -> None:
            if not yes:
                return
            self._quitting = True
            if self._scheduler is None:  # still preparing: nothing durable to wind down
                if self._engine is not None:
                    self._engine.cancel()
                self.exit(ExitCode.INTERRUPTED)
            else:
                self.send("stop")
                self.notify("stopping: attempts in flight are saved and re-run on resume")

        self.push_screen(ConfirmScreen(
            f"Stop run {self.run_id} and quit?\nIt can be resumed: {self.resume_command}"
        ), decided)
