"""Instance detail: its attempts, each attempt's diff, per-test results, agent steps, the whole
trajectory (every message, tool call and observation) and the test log's tail.

Pushed over the dashboard by :func:`show_detail`. The data comes from :func:`tui.details.load_detail`
in a thread worker and is reloaded (at most once a second, and always after the last change) when the
instance's row in the latest snapshot is a new object, which is exactly when one of its events arrived.

One screen, installed once, shows every instance's detail. A screen built for each opening left, with
its footer's keys, about 50,000 objects of cyclic garbage when it closed (widgets, their styles,
caches and message pumps), which only a full collection frees: one came every opening or two and
took 25-150 ms, growing with the run's live objects, and the keypress that met one waited as long.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static, TabbedContent, TabPane

from engine.results.runview import InstanceRow, RunSnapshot

from ..details import AttemptDetail, InstanceDetail, Turn, load_detail
from ..format import OUTCOME_STYLE, attempt_label, count, duration, money, pipeline, state_label
from ..messages import DetailLoaded
from ..widgets.footer import RampFooter
from .base import RampScreen

RELOAD_EVERY_S = 1.0
TABS = ("diff", "tests", "steps", "trajectory", "log")
#: The name the one detail screen is installed under.
DETAIL = "detail"
#: How each role's header is drawn in the trajectory.
ROLE_STYLE = {"system": "dim bold", "user": "bold green", "assistant": "bold cyan", "tool": "bold yellow",
              "observation": "bold yellow", "exit": "bold magenta"}


#: Footer groups, so the detail's keys and the run keys fit 80 columns.
TAB = Binding.Group("tabs")
ATTEMPT = Binding.Group("attempt")


class DetailScreen(RampScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "back"),
        Binding("d", "tab('diff')", "diff", group=TAB),
        Binding("t", "tab('tests')", "tests", group=TAB),
        Binding("e", "tab('steps')", "agent steps", group=TAB),
        Binding("j", "tab('trajectory')", "trajectory", group=TAB),
        Binding("l", "tab('log')", "test log", group=TAB),
        Binding("left_square_bracket", "attempt(-1)", "previous attempt", key_display="[", group=ATTEMPT),
        Binding("right_square_bracket", "attempt(1)", "next attempt", key_display="]", group=ATTEMPT),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.instance_id = ""
        self.tab = "diff"
        self.detail: InstanceDetail | None = None
        self.attempt: int | None = None
        self._row: InstanceRow | None = None
        self._loaded_at = 0.0
        self._reload: Timer | None = None

    def show(self, instance_id: str, tab: str = "diff") -> None:
        """Point the screen at an instance, forgetting the last one's data, scroll and reload."""
        self.instance_id = instance_id
        self.tab = tab if tab in TABS else "diff"
        self.detail, self.attempt, self._row = None, None, None
        if self._reload is not None:  # a timer runs only once mounted; _reload_now clears it
            self._reload.stop()
        if not self.is_mounted:
            return  # on_mount loads it
        self.action_tab(self.tab)
        for static in self.query("#detail-title, #attempts, .body").results(Static):
            static.update("")
        for scroll in self.query(VerticalScroll):
            scroll.scroll_home(animate=False)
        self._reload_now()

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        yield Static(id="attempts")
        with TabbedContent(initial=self.tab):
            for name in TABS:
                with TabPane(name, id=name), VerticalScroll():
                    yield Static(id=f"{name}-body", classes="body", expand=True)
        yield RampFooter(compact=True)

    def on_mount(self) -> None:
        self._reload_now()
        self.watch(self.app, "snapshot", self.show_snapshot)

    def on_screen_resume(self) -> None:
        self.show_snapshot(self.ramp.snapshot)

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        app = self.ramp
        self.post_message(DetailLoaded(load_detail(app.db_path, app.run_id, self.instance_id)))

    def show_snapshot(self, snapshot: RunSnapshot | None) -> None:
        if not self.is_current:
            return  # put away until the next opening, which shows the latest snapshot
        row = snapshot.row(self.instance_id) if snapshot is not None else None
        if snapshot is None or row is None:
            return
        glyphs = self.ramp.glyphs
        title = Text(no_wrap=True, overflow="crop" if glyphs.ascii else "ellipsis")
        title.append(row.instance_id, style="bold")
        title.append(f"  {row.repo}  ", style="dim")
        title.append_text(pipeline(row, glyphs))
        title.append(f" {state_label(row)}  attempt {attempt_label(row, snapshot.attempts_k)}")
        if row.outcome:
            title.append(f"  {glyphs.outcome(row.outcome)} {row.outcome}", style=OUTCOME_STYLE[row.outcome])
        self.query_one("#detail-title", Static).update(title)
        if row is not self._row:
            self._row = row
            if self._reload is None:
                wait = max(0.0, RELOAD_EVERY_S - (time.monotonic() - self._loaded_at))
                self._reload = self.set_timer(wait, self._reload_now)

    def _reload_now(self) -> None:
        self._reload = None
        self._loaded_at = time.monotonic()
        self.load()

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        if message.detail.instance_id != self.instance_id:
            return  # the last instance's load, finishing after the screen moved on
        self.detail = message.detail
        numbers = [a.number for a in message.detail.attempts]
        if self.attempt not in numbers:
            self.attempt = numbers[-1] if numbers else None
        self._draw()

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    def action_attempt(self, step: int) -> None:
        if self.detail is None or not self.detail.attempts:
            return
        numbers = [a.number for a in self.detail.attempts]
        index = numbers.index(self.attempt) if self.attempt in numbers else len(numbers) - 1
        self.attempt = numbers[max(0, min(len(numbers) - 1, index + step))]
        self._draw()

    def _draw(self) -> None:
        glyphs = self.ramp.glyphs
        detail = self.detail
        current = detail.attempt(self.attempt) if detail else None
        strip = Text("attempts ", style="dim")
        for a in detail.attempts if detail else ():
            label = f" {a.number} {glyphs.outcome(a.outcome) if a.outcome else '~'} "
            style = "reverse bold" if current is not None and a.number == current.number else ""
            strip.append(label, style=f"{style} {OUTCOME_STYLE.get(a.outcome or '', '')}")
            strip.append(" ")
        if current is None:
            strip.append("none yet: the instance has not started")
        else:
            strip.append(_summary(current), style="dim")
        self.query_one("#attempts", Static).update(strip)
        bodies = _bodies(current, glyphs.test_pass, glyphs.test_fail, detail.validation if detail else None)
        for name in TABS:
            self.query_one(f"#{name}-body", Static).update(bodies[name])


def show_detail(app: App[Any], instance_id: str, tab: str = "diff") -> None:
    """Push the detail of ``instance_id``, open at ``tab``, on the one detail screen."""
    if not app.is_screen_installed(DETAIL):
        app.install_screen(DetailScreen(), DETAIL)
    screen = app.get_screen(DETAIL)
    assert isinstance(screen, DetailScreen)
    screen.show(instance_id, tab)
    app.push_screen(screen)


def _summary(a: AttemptDetail) -> str:
    parts = [a.status, f"{a.calls} calls", f"{count(a.input_tokens + a.output_tokens)} tok", money(a.cost_usd, 3),
             f"agent {duration(a.agent_s)}", f"eval {duration(a.eval_s)}"]
    if a.nodes:
        parts.append(f"on {a.nodes}")
    if a.error_class:
        parts.append(f"{a.error_class}: {a.detail or ''}".strip())
    return "  ".join(parts)


def _bodies(
    a: AttemptDetail | None, ok: str, fail: str, validation: str | None = None
) -> dict[str, RenderableType]:
    if a is None:
        return {name: Text("nothing recorded yet", style="dim") for name in TABS}
    diff: RenderableType = (Syntax(a.diff, "diff", theme="ansi_dark", background_color="default", word_wrap=False)
                    if a.diff.strip() else Text("no patch" if a.status != "running" else "the agent is working",
                                                style="dim"))
    tests = Text()
    for title, results in (("FAIL_TO_PASS", a.fail_to_pass), ("PASS_TO_PASS", a.pass_to_pass)):
        passed = sum(1 for _, good in results if good)
        tests.append(f"{title} {passed}/{len(results)}\n", style="bold")
        for name, good in results:
            tests.append(f"  {ok if good else fail} ", style="green" if good else "bold red")
            tests.append(f"{name}\n")
    if not a.fail_to_pass and not a.pass_to_pass:
        tests = Text("not evaluated yet" if a.status != "done" else "no per-test results", style="dim")
    if validation:
        style = "green" if validation.startswith("valid ") else "yellow"
        tests = Text.assemble(("validation ", "bold"), (validation + "\n\n", style), tests)
    steps = Text()
    for step in a.steps:
        steps.append(f"{step.index:>3} ", style="dim")
        steps.append(f"{step.sub_state:<9} ", style="cyan")
        steps.append(f"{step.summary}\n")
    log = Text(a.log_tail) if a.log_tail else Text("no test log", style="dim")
    return {"diff": diff, "tests": tests, "steps": steps or Text("no agent steps", style="dim"), "log": log,
            "trajectory": _conversation(a.trajectory)}


def _conversation(turns: tuple[Turn, ...]) -> Text:
    """The trajectory, message by message, each under its role."""
    if not turns:
        return Text("no trajectory recorded", style="dim")
    text = Text()
    for index, turn in enumerate(turns):
        text.append(f"{index:>3} {turn.role}\n", style=ROLE_STYLE.get(turn.role, "bold"))
        text.append(turn.content.rstrip() + "\n\n" if turn.content.strip() else "(empty)\n\n")
    return text
