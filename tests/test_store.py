"""The SQLite store: WAL, schema version and migrations, typed events, idempotent attempts, commands."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from engine.core.events import AgentStep, Alert, RunStarted, StateChanged
from engine.store import SCHEMA_VERSION, Store
from engine.store.queries import STEPS_OF_INSTANCE


async def test_wal_schema_version_and_typed_event_roundtrip(tmp_path):
    path = tmp_path / "ramp.sqlite"
    async with Store(path) as store:
        await store.create_run("r1", config={"run": {"agent": "gold"}}, meta={"agent": "gold"})
        a = await store.append(RunStarted(run_id="r1", agent="gold", evaluator="local", dataset="bundled",
                                          instances=2, attempts=1, phases=[2]))
        b = await store.append(StateChanged(run_id="r1", instance_id="x", attempt=1, from_state="queued",
                                            to_state="preparing"))
        assert b.seq == a.seq + 1
        events = await store.events("r1")
        assert [type(e) for e in events] == [RunStarted, StateChanged]
        assert events[1].to_state == "preparing" and events[1].seq == b.seq
        assert [e.kind for e in await store.events("r1", after=a.seq)] == ["state"]
        assert await store.events("r1", kinds=["run_started"]) == [events[0]]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "ramp.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this Ramp"):
        await Store(path).open()


async def test_reopening_migrates_nothing_twice(tmp_path):
    path = tmp_path / "ramp.sqlite"
    async with Store(path) as store:
        await store.create_run("r1", config={}, meta={})
    async with Store(path) as store:
        assert [r["run_id"] for r in await store.list_runs()] == ["r1"]


async def test_restarted_attempt_replaces_its_half_written_record(tmp_path):
    async with Store(tmp_path / "ramp.sqlite") as store:
        await store.create_run("r", config={}, meta={})
        await store.add_instances("r", [("i", "o/n", 0, 0)])
        await store.start_attempt("r", "i", 1)
        await store.add_evaluation("r", "i", 1, 0, resolved=0, applied=1, tests={"t": "FAILED"})
        await store.start_attempt("r", "i", 1)  # the process died; the attempt is re-run
        attempts = await store.attempts("r")
        assert len(attempts) == 1 and attempts[0]["status"] == "running"
        assert await store.evaluations("r") == []
        await store.add_instances("r", [("i", "o/n", 0, 0)])  # re-adding keeps state
        assert len(await store.instances("r")) == 1


async def test_commands_and_a_second_process_reading_while_we_write(tmp_path):
    path = tmp_path / "ramp.sqlite"
    async with Store(path) as store:
        await store.create_run("r", config={}, meta={})
        for i in range(50):
            await store.append(AgentStep(run_id="r", instance_id="i", attempt=1, step=i))
        # Another process (as `ramp ctl` would be) writes a command while this connection is open.
        script = (
            "import anyio, sys\nfrom engine.store import Store\n"
            "async def go():\n"
            f"    async with Store({str(path)!r}) as s:\n"
            "        print(len(await s.events('r')))\n"
            "        await s.add_command('r', 'pause')\n"
            "anyio.run(go)\n"
        )
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "50"
        pending = await store.pending_commands("r")
        assert [c["command"] for c in pending] == ["pause"]
        await store.finish_command(pending[0]["id"], "done", "paused")
        assert await store.pending_commands("r") == []
        with pytest.raises(ValueError, match="unknown command"):
            await store.add_command("r", "explode")


async def test_redaction_applies_to_everything_written(tmp_path):
    async with Store(tmp_path / "ramp.sqlite", redact=lambda t: t.replace("sk-secret", "[REDACTED]")) as store:
        await store.create_run("r", config={"key": "sk-secret"}, meta={})
        await store.append(AgentStep(run_id="r", instance_id="i", attempt=1, step=0, summary="used sk-secret"))
        await store.add_instances("r", [("i", "o/n", 0, 0)])
        await store.start_attempt("r", "i", 1)
        await store.update_attempt("r", "i", 1, detail="boom sk-secret")
    raw = (tmp_path / "ramp.sqlite").read_bytes() + (tmp_path / "ramp.sqlite-wal").read_bytes() if (
        tmp_path / "ramp.sqlite-wal").exists() else (tmp_path / "ramp.sqlite").read_bytes()
    assert b"sk-secret" not in raw


async def test_a_version_1_file_is_migrated_in_place_and_keeps_its_data(tmp_path):
    from engine.store import MIGRATIONS

    path = tmp_path / "ramp.sqlite"
    conn = sqlite3.connect(path)  # a store as the first release wrote it
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO events (seq, run_id, ts, kind, instance_id, attempt, data) VALUES "
                 "(41, 'r', 1.0, 'agent_step', 'i', 1, ?)",
                 (AgentStep(run_id="r", instance_id="i", attempt=1, step=0).model_dump_json(),))
    conn.execute("INSERT INTO llm_calls (id, run_id, ts, day, model_id, provider, input_tokens, status) VALUES "
                 "(7, 'r', 1.0, '2026-11-29', 'm', 'p', 120, 'ok')")
    conn.commit()
    conn.close()
    async with Store(path) as store:
        assert [e.kind for e in await store.events("r")] == ["agent_step"]
        stored = await store.append(Alert(run_id="r", level="info", message="after the migration"))
        assert stored.seq == 42  # numbering goes on where it was
        assert [(c["id"], c["input_tokens"], c["cache_hit"]) for c in await store.llm_calls("r")] == [(7, 120, 0)]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 8
    # v8: no counter rows in sqlite_sequence, whose page every commit with an event wrote again
    assert not conn.execute("SELECT name FROM sqlite_sequence WHERE name IN ('events', 'llm_calls')").fetchall()
    plan = conn.execute("EXPLAIN QUERY PLAN " + STEPS_OF_INSTANCE, ("r", "i")).fetchall()
    assert "events_steps" in str(plan) and "TEMP B-TREE" not in str(plan)  # the detail's steps, indexed
    # v9: an attempt's start finds the calls its attempt made by index, not among all the run's calls
    sql, params = Store.attempt_start("r", "i", 1)[1]
    plan = str(conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
    assert "llm_calls USING COVERING INDEX llm_calls_by_attempt (run_id=? AND instance_id=? AND attempt=?)" in plan \
        or "llm_calls USING INDEX llm_calls_by_attempt (run_id=? AND instance_id=? AND attempt=?)" in plan, plan


async def test_the_display_shows_the_event_as_the_store_redacted_it(tmp_path):
    """Events are redacted once, on their way into the store; the run context shows the stored
    event, so no display wrapper dumps and re-parses every event a second time."""
    from engine.core.events import Alert
    from engine.core.secrets import REDACTED, Redactor
    from tests.runcontext import Harness, instance

    key = "sk-test-0123456789abcdef0123"
    async with Store(tmp_path / "ramp.sqlite", redact=Redactor([key])) as store:
        await store.create_run("r", config={}, meta={}, instances=[("a", "acme/calc", 0, 0)], phases=[(1, None)])
        h = Harness(store, tmp_path, instances=[instance("a")], phases=[1])
        leaky = Alert(message=f"provider said: bad key {key}")
        plain = Alert(message="nothing secret here")
        await h.ctx.emit(leaky)
        await h.ctx.emit(plain)
        shown, stored = h.events, await store.events("r")
    assert [e.message for e in shown] == [f"provider said: bad key {REDACTED}", "nothing secret here"]
    assert [e.message for e in stored] == [e.message for e in shown] and shown[0].seq == stored[0].seq
    assert shown[1] is plain                                  # nothing to redact: the same object, no re-parse


async def test_concurrent_writes_share_commits_and_a_failing_unit_is_undone_alone(tmp_path):
    """Group commit: writers that queue while a commit is in progress go in the next one; each is
    committed when its call returns, and one that fails takes nothing else down with it."""
    import anyio

    async with Store(tmp_path / "ramp.sqlite") as store:
        await store.create_run("r", config={}, meta={}, instances=[(f"i{n}", "o/r", 0, n) for n in range(40)])
        commits_before = store.commits
        seen_after_return: list[bool] = []
        returned: dict[int, str] = {}

        async def one(n: int) -> None:
            [stored] = await store.apply([store.instance_update("r", f"i{n}", {"state": "agent"})],
                              [StateChanged(run_id="r", instance_id=f"i{n}", attempt=1, from_state="preparing",
                                            to_state="agent")])
            returned[stored.seq] = stored.instance_id  # a batch run twice numbers its events again
            # Committed when the call returns: a second connection (another process) sees it.
            other = sqlite3.connect(tmp_path / "ramp.sqlite")
            row = other.execute("SELECT state FROM instances WHERE run_id='r' AND instance_id=?", (f"i{n}",))
            seen_after_return.append(row.fetchone()[0] == "agent")
            other.close()

        def broken(db: sqlite3.Connection) -> None:
            db.execute("UPDATE instances SET state = 'evaluating' WHERE instance_id = 'i0'")
            db.execute("INSERT INTO no_such_table VALUES (1)")

        failures: list[BaseException] = []

        async def failing() -> None:
            try:
                await store.write(broken)
            except sqlite3.OperationalError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            for n in range(40):
                tg.start_soon(one, n)
            tg.start_soon(failing)
        assert seen_after_return == [True] * 40
        assert len(failures) == 1 and "no_such_table" in str(failures[0])
        assert store.commits - commits_before < 41  # shared, not one per writer
        states = {r["instance_id"]: r["state"] for r in await store.instances("r")}
        assert set(states.values()) == {"agent"}  # i0's half of the failed unit was rolled back
        assert {e.seq: e.instance_id for e in await store.events("r")} == returned


async def test_a_new_store_has_small_pages_and_an_old_one_keeps_its_own(tmp_path):
    async with Store(tmp_path / "new.sqlite"):
        pass
    conn = sqlite3.connect(tmp_path / "new.sqlite")
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 512
    conn.close()
    old = sqlite3.connect(tmp_path / "old.sqlite")
    old.execute("PRAGMA page_size=4096")
    old.execute("CREATE TABLE keep (x)")
    old.execute("INSERT INTO keep VALUES (1)")
    old.commit()
    old.close()
    async with Store(tmp_path / "old.sqlite") as store:
        await store.create_run("r", config={}, meta={})
    conn = sqlite3.connect(tmp_path / "old.sqlite")
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert conn.execute("SELECT x FROM keep").fetchone()[0] == 1
    conn.close()


async def test_events_are_stored_without_what_their_columns_hold_and_read_back_whole(tmp_path):
    """From schema v8 an event's data leaves out its row's columns (run, time, kind, instance,
    attempt) and its optional fields that are None; reading gives back the event it was."""
    from engine.core.events import LLMCall

    events = [
        RunStarted(run_id="r", ts=1.25, agent="gold", evaluator="local", dataset="d", instances=1, attempts=1,
                   phases=[1]),
        StateChanged(run_id="r", ts=2.5, instance_id="o__p-1", attempt=1, from_state=None, to_state="queued"),
        StateChanged(run_id="r", ts=3.0, instance_id="o__p-1", attempt=1, from_state="agent", to_state="error",
                     error_class="model_format", detail="no edit block, \"quoted\" ✓"),
        LLMCall(run_id="r", ts=4.0, model_id="m", provider="p", cost_usd=None),  # unpriced: None, not 0
        LLMCall(run_id="r", ts=4.5, instance_id="o__p-1", attempt=1, model_id="m", provider="p", cost_usd=0.0,
                ttft_s=0.1, input_tokens=12),
        Alert(run_id="r", ts=5.0, message="a", instance_id=None),
        AgentStep(run_id="r", ts=6.0, instance_id="o__p-1", attempt=1, step=2, sub_state="edit", summary="s"),
    ]
    async with Store(tmp_path / "ramp.sqlite") as store:
        for event in events:
            await store.append(event)
        back = await store.events("r")
    assert back == events  # seq set on both
    conn = sqlite3.connect(tmp_path / "ramp.sqlite")
    data = [json.loads(d) for (d,) in conn.execute("SELECT data FROM events ORDER BY seq")]
    assert data[1] == {"from_state": None, "to_state": "queued", "detail": ""}  # from_state is required
    assert data[3] == {"model_id": "m", "provider": "p", "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0,
                       "estimated": False, "latency_s": 0.0, "status": "ok", "cache_hit": False}


async def test_an_event_whose_id_redaction_changed_is_stored_and_read_as_redacted(tmp_path):
    """The columns keep the ids the run uses (queries find the event by them); the event read back
    is the redacted one, as before v8, when an id looked like a key."""
    key = "sk-" + "a1" * 12
    async with Store(tmp_path / "ramp.sqlite", redact=lambda t: t.replace(key, "[REDACTED]")) as store:
        stored = await store.append(StateChanged(run_id="r", instance_id=key, attempt=1, to_state="queued",
                                                 from_state=None))
        back = await store.events("r")
    assert stored.instance_id == "[REDACTED]" and back == [stored]


def _state(i: int) -> StateChanged:
    return StateChanged(run_id="r1", instance_id=f"i{i}", attempt=1, from_state="queued", to_state="preparing")


async def test_small_commits_stay_on_the_loop_and_a_held_write_lock_is_waited_for_in_a_thread(tmp_path, monkeypatch):
    """A unit's commit runs on the event loop: no thread hop, which cost more CPU than the commit.
    When another process holds the write lock (``ramp ctl`` writing a command), the loop does not
    wait: the commit moves to the worker thread, which waits for the lock, while the loop keeps
    turning."""
    import anyio
    import anyio.to_thread

    path = tmp_path / "ramp.sqlite"
    hops: list[str] = []
    real_run_sync = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):
        hops.append(getattr(func, "__name__", repr(func)))
        return await real_run_sync(func, *args, **kwargs)

    async with Store(path) as store:
        await store.create_run("r1", config={}, meta={})
        monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
        for i in range(20):
            await store.apply([], [_state(i)])
        assert hops == []

        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process's write lock, held for 0.5 s
        gaps: list[float] = []
        done = anyio.Event()

        async def ticker() -> None:
            last = anyio.current_time()
            while not done.is_set():
                await anyio.sleep(0.01)
                now = anyio.current_time()
                gaps.append(now - last)
                last = now

        async def release() -> None:
            await anyio.sleep(0.5)
            other.execute("COMMIT")

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            tg.start_soon(release)
            started = anyio.current_time()
            [stored] = await store.apply([], [_state(99)])
            waited = anyio.current_time() - started
            done.set()
        other.close()
        assert waited >= 0.45 and stored.seq is not None  # it waited for the lock, then committed
        assert hops == ["_commit"]  # in the worker thread
        assert max(gaps) < 0.2  # while the loop went on
        assert [e.instance_id for e in await store.events("r1")][-1] == "i99"


async def test_the_writer_checkpoints_the_wal_itself(tmp_path):
    """SQLite's own checkpoints (which sync to disk) would run inside a commit, on the loop: they
    are off, and the writer checkpoints in its worker thread every CHECKPOINT_EVERY commits, so the
    WAL starts over instead of growing with every commit."""
    from engine.store.connection import CHECKPOINT_EVERY

    path = tmp_path / "ramp.sqlite"
    wal = tmp_path / "ramp.sqlite-wal"
    async with Store(path) as store:
        await store.create_run("r1", config={}, meta={})
        created = wal.stat().st_size
        for i in range(10):
            await store.apply([], [_state(i)])
        per_commit = (wal.stat().st_size - created) / 10
        for i in range(10, 3 * CHECKPOINT_EVERY):
            await store.apply([], [_state(i)])
        # Without the checkpoints the WAL would hold all 300 commits (461 KB against 156 KB).
        assert wal.stat().st_size < created + 1.5 * CHECKPOINT_EVERY * per_commit
        assert len(await store.events("r1")) == 3 * CHECKPOINT_EVERY


async def test_states_joined_in_one_write_update_the_instance_row_once(tmp_path):
    """Joined states (an attempt's ``preparing`` and ``agent``; ``patched`` and ``eval_queued``) are
    one write, and update the instance's row once, with what two updates in a row would have left:
    each later field wins, and a field only the first state sets (clearing the sub-state) stays."""
    from engine.core.fsm import InstanceMachine
    from engine.run.context import Write
    from engine.run.scheduler import InstanceTrack
    from tests.runcontext import Harness, instance

    async with Store(tmp_path / "ramp.sqlite") as store:
        await store.create_run("r", config={}, meta={}, instances=[("a", "acme/calc", 0, 0)], phases=[(1, None)])
        h = Harness(store, tmp_path, instances=[instance("a")], phases=[1])
        track = InstanceTrack(instance("a"), 0, InstanceMachine("r", "a"))
        await h.ctx.transition(track, "queued", attempt=1)
        track.machine.attempt = 1
        await store.set_instance("r", "a", sub_state="fetching the repo")
        statements: list[str] = []
        store._writer.set_trace_callback(statements.append)  # type: ignore[union-attr]
        start = Write(statements=store.attempt_start("r", "a", 1))
        pending = await h.ctx.transition(track, "preparing", joined=start, defer=True)
        assert pending is not None and not statements  # deferred: nothing written yet
        await h.ctx.transition(track, "agent", joined=pending)
        store._writer.set_trace_callback(None)  # type: ignore[union-attr]
        row = next(r for r in await store.instances("r") if r["instance_id"] == "a")
        states = [e.to_state for e in await store.events("r") if e.kind == "state"]
    updates = [s for s in statements if s.startswith("UPDATE instances")]
    assert len(updates) == 1 and "state = 'agent'" in updates[0]  # once, with the last state
    assert (row["state"], row["attempt"], row["sub_state"]) == ("agent", 1, None)
    assert states == ["queued", "preparing", "agent"]  # every state keeps its event
