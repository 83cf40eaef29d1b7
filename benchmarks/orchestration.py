"""What Ramp's orchestration costs per attempt, through the real ``ramp run``.

The workload: N attempts, each one model call that sleeps ``--sleep`` seconds inside the provider
(the scripted model, so no network), ``--concurrency`` at once, the store on disk, no display. The
provider reports the call's usage, as real providers (and the Inspect side below) do;
``--estimate-usage`` makes it report none, so that Ramp counts it with the tokenizer. Ramp
runs as a child process through its real command line (``ramp run --headless``): model layer,
accounting, store, governor and gates. The agent makes the one call and submits a fixed patch (it
never touches its sandbox); the evaluator grades without running tests. Everything those two do
not do is what Ramp costs.

Printed, per run: wall time against the ideal (N / concurrency x sleep), CPU of the Ramp process
per attempt (user + system, every thread; child processes such as git are counted apart), and
that CPU less the start-up's (what the process had used by its first model call), start-up
(process start to first model call), peak RSS, bytes the process wrote and SQLite commits and
statements per attempt. What SQLite wrote is split into the WAL (frames counted from the
wal-index after each commit) and the rest, its checkpoints into the database file.

``--inspect VENV`` runs the same workload in Inspect AI too (mockllm, whose async output function
sleeps the same time), installed in its own virtualenv from PyPI (``inspect-ai==0.3.285``; created
if missing), interleaved A/B with Ramp for ``--repeat`` pairs. ``--floor`` runs the floor beside Ramp
(:func:`run_floor`): a bare asyncio program that makes the same calls and commits a row for each;
with ``--files`` (which implies ``--floor``) it also writes each attempt's files as Ramp does, which
on some disks cost more than the rest of Ramp together.

Run: python benchmarks/orchestration.py [--attempts 1000] [--sleep 0.05] [--concurrency 16]
     python benchmarks/orchestration.py --attempts 200 --sleep 2
     python benchmarks/orchestration.py --inspect /tmp/inspect-venv --repeat 2
     python benchmarks/orchestration.py --files --repeat 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
INSPECT_VERSION = "0.3.285"
PATCH = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"


# --- the parts the Ramp child plugs in (imported by module path in the child) ----------------------


def reply(messages, context):  # the scripted model's callable: the provider's "latency" is a sleep
    import anyio

    async def later() -> str:
        marker = os.environ["BENCH_FIRST_CALL"]
        if not os.path.exists(marker):  # when, and the process's CPU so far (every thread)
            Path(marker).write_text(f"{time.time()!r} {time.process_time()!r}")
        await anyio.sleep(float(os.environ["BENCH_SLEEP"]))
        return "done"

    return later()


def one_call_agent():
    """The agent class, made when the run asks for it: its base class imports the engine, which the
    child must import as ``ramp run`` does (after pausing the collector), not at this module's import."""
    from engine.agents.base import AgentBase, AgentResult
    from engine.models.base import CallContext, Message

    class OneCallAgent(AgentBase):
        """One model call (attributed to the attempt), then a fixed patch; the sandbox is never used."""

        name = "one-call"
        uses_sandbox = False  # the sandbox is never used: no checkout (--sandbox makes one anyway)

        async def run(self, task, sandbox, model, reporter):
            # Attributed to the attempt, as Ramp's agents do: the call's row and event name it, and
            # the attempt's counters grow.
            context = CallContext(run_id=task.run_id, instance_id=task.instance.instance_id, attempt=task.attempt)
            await model.complete([Message(role="user", content=task.instance.problem_statement)], context=context)
            return AgentResult(patch=PATCH, exit_status="submitted", steps=1)

    return OneCallAgent


def __getattr__(name: str):
    if name == "OneCallAgent":
        globals()[name] = one_call_agent()
        return globals()[name]
    raise AttributeError(name)


class TrivialEvaluator:
    """Resolves every patch without running anything."""

    name = "trivial"

    def __init__(self, config=None, **_):
        self.config = config

    async def evaluate(self, request):
        from engine.evaluators.base import EvalResult

        return EvalResult(resolved=True, applied=True, duration_s=0.0)

    async def preflight(self, instances):
        return []

    async def aclose(self):
        return None


def child(argv: list[str]) -> int:
    """The Ramp process: register the parts above, count SQLite statements, run ``ramp``."""
    from engine.core import collector

    collector.pause()  # as the ramp entry point does, before it imports the engine
    import sqlite3

    from pydantic import BaseModel

    TrivialEvaluator.Config = type("NoOptions", (BaseModel,), {})  # type: ignore[attr-defined]
    from engine.agents import AGENTS
    from engine.evaluators import EVALUATORS

    AGENTS.register("one-call", f"{__name__}:OneCallAgent")
    EVALUATORS.register("trivial", f"{__name__}:TrivialEvaluator")
    counts = {"statements": 0, "commits": 0}
    log = open(os.environ["BENCH_SQL_LOG"], "w") if os.environ.get("BENCH_SQL_LOG") else None  # noqa: SIM115

    def trace(statement: str) -> None:
        counts["statements"] += 1
        counts["commits"] += statement.lstrip()[:6].upper() == "COMMIT"
        if log:
            log.write(" ".join(statement.split())[:100] + "\n")

    connect = sqlite3.connect

    def counted(*args, **kwargs):
        connection = connect(*args, **kwargs)
        connection.set_trace_callback(trace)
        return connection

    sqlite3.connect = counted  # type: ignore[assignment]
    wal = measure_wal()
    from engine.cli import leaving, main

    try:
        return leaving(main(argv))  # as the ramp command does
    finally:
        io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        usage = resource.getrusage(resource.RUSAGE_SELF)
        Path(os.environ["BENCH_STATS"]).write_text(json.dumps({
            **counts, **wal, "wchar": int(io["wchar"]), "write_bytes": int(io["write_bytes"]),
            "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss,
        }))  # fmt: skip


def measure_wal() -> dict[str, int]:
    """Count the frames each store commit adds to the WAL, without changing what it does (and
    without strace): the wal-index header's ``mxFrame`` (in the -shm file, read through a mapping,
    so no system call is added) before and after each commit. A frame is ``page_size + 24`` bytes;
    a count lower than before means the commit restarted the WAL after a checkpoint."""
    import mmap
    import struct

    from engine.store import connection

    totals = {"wal_bytes": 0}
    maps: dict[Path, mmap.mmap] = {}
    original = connection.Connection._commit

    def frames(path: Path) -> tuple[int, int]:
        view = maps.get(path)
        if view is None:
            try:
                with open(f"{path}-shm", "rb") as fh:
                    view = maps[path] = mmap.mmap(fh.fileno(), 32768, prot=mmap.PROT_READ)
            except (FileNotFoundError, ValueError):
                return 0, 0
        page = struct.unpack_from("=H", view, 14)[0]
        return struct.unpack_from("=I", view, 16)[0], (65536 if page == 1 else page)

    def commit(self, batch, *args, **kwargs):  # type: ignore[no-untyped-def]
        before = frames(self.path)[0]
        try:
            return original(self, batch, *args, **kwargs)
        finally:
            after, page = frames(self.path)
            new = after - before if after >= before else after
            totals["wal_bytes"] += new * (page + 24)

    connection.Connection._commit = commit  # type: ignore[method-assign]
    return totals


# --- the parent: build the workload, run it, print the figures -------------------------------------


def workload(folder: Path, attempts: int, sleep: float, concurrency: int, estimate_usage: bool = False) -> list[str]:
    """A one-commit mirror, N rows on it, a models catalog and a config; the ``ramp run`` argv."""
    repo = folder / "mirror" / "bench+repo"
    repo.mkdir(parents=True)
    (repo / "x.py").write_text("x = 1\n")
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["add", "-A"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "base"], cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
    rows = [
        {"instance_id": f"bench__repo-{i}", "repo": "bench/repo", "base_commit": sha, "version": "1.0",
         "problem_statement": f"Make x two (task {i}).", "test_patch": "", "patch": PATCH,
         "FAIL_TO_PASS": ["test_x.py::test_x"], "PASS_TO_PASS": [], "environment_setup_commit": sha}
        for i in range(attempts)
    ]  # fmt: skip
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "models.yaml").write_text(
        "models:\n  bench-sleep:\n    provider: scripted\n    local: true\n"
        f"    concurrency: {concurrency}\n"
        f"    options:\n      callable: benchmarks.orchestration:reply\n"
        + ("" if estimate_usage else "      usage: {input_tokens: 12, output_tokens: 1}\n")  # as Inspect's
    )
    (folder / "ramp.yaml").write_text(
        f"paths:\n  runs_dir: {folder / 'runs'}\n  models_file: {folder / 'models.yaml'}\n"
        f"run:\n  agent_concurrency: {concurrency}\n  max_retries: 0\n"
        f"governor:\n  max_concurrent_evals: {concurrency}\n  min_free_memory_mb: 0\n  min_free_disk_mb: 0\n"
        "ramp:\n  approval: auto\n  baseline: none\n  gate: {stop: [], caution: [], excellent: []}\n"
    )
    return ["run", "-c", str(folder / "ramp.yaml"), "--dataset", str(folder / "rows.jsonl"),
            "--agent", "one-call", "--model", "bench-sleep", "--evaluator", "trivial", "--sandbox", "local",
            "--repo-source", f"file://{folder / 'mirror'}/{{owner}}+{{name}}", "--headless", "--json",
            "--attempt-policy", "fixed", "--run-id", "bench"]  # fmt: skip


def run_ramp(attempts: int, sleep: float, concurrency: int, estimate_usage: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="ramp-orch-") as tmp:
        folder = Path(tmp)
        argv = workload(folder, attempts, sleep, concurrency, estimate_usage)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_SLEEP": str(sleep),
               "BENCH_FIRST_CALL": str(folder / "first-call"), "BENCH_STATS": str(folder / "stats.json")}  # fmt: skip
        command = [sys.executable, "-c", f"import sys; from benchmarks.orchestration import child; sys.exit(child({argv!r}))"]
        result = measured_child("ramp", "ramp run", command, folder, env, cwd=ROOT)
        stats, out, err = result.pop("stats"), result.pop("stdout"), result.pop("stderr")
        summary = json.loads(out.strip().splitlines()[-1])
        # What SQLite wrote (WAL frames and checkpoints) is what the process wrote less its output
        # and the run folder's files (each written once: through a temporary file, then renamed).
        files = sum(p.stat().st_size for p in (folder / "runs").rglob("*")
                    if p.is_file() and not p.name.startswith("ramp.sqlite"))  # fmt: skip
        sqlite_bytes = stats["wchar"] - files - len(out.encode()) - len(err.encode())
    return {
        **result, "commits": stats["commits"], "statements": stats["statements"], "summary": summary,
        "sqlite_bytes": sqlite_bytes, "wal_bytes": stats["wal_bytes"],
        "checkpoint_bytes": max(0, sqlite_bytes - stats["wal_bytes"]),
    }


INSPECT_TASK = '''
import asyncio, os, time
from pathlib import Path
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

async def output(input, tools, tool_choice, config):
    marker = os.environ["BENCH_FIRST_CALL"]
    if not os.path.exists(marker):
        Path(marker).write_text(f"{time.time()!r} {time.process_time()!r}")
    await asyncio.sleep(float(os.environ["BENCH_SLEEP"]))
    out = ModelOutput.from_content(model="mockllm/model", content="done")
    # Usage given, as a provider reports it: mockllm would otherwise count tokens with tiktoken's
    # o200k_base, which it downloads (this host is offline), and fail every sample.
    out.usage = ModelUsage(input_tokens=12, output_tokens=1, total_tokens=13)
    return out

@task
def bench():
    n = int(os.environ["BENCH_N"])
    return Task(dataset=[Sample(input=f"Make x two (task {i}).", target="done") for i in range(n)],
                solver=generate(), scorer=includes())

def model():
    return get_model("mockllm/model", custom_outputs=output)
'''


FLOOR_PROGRAM = """
import asyncio, json, os, resource, sqlite3, sys, time
from pathlib import Path

def keep_files(i):  # what Ramp keeps of an attempt, written as engine.core.artifacts writes it
    def write(path, data):  # through a temporary name, renamed into place, no fsync
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        os.write(fd, data)
        os.fstat(fd)
        os.close(fd)
        os.replace(tmp, path)

    folder = Path("runs", "bench", "attempts", f"bench__repo-{i}.1")
    folder.mkdir(parents=True)
    write(folder / "patch.diff", os.environ["BENCH_PATCH"].encode())
    write(folder / "eval.json", json.dumps({"resolved": True, "applied": True, "detail": ""}, indent=2).encode())
    line = json.dumps({"instance_id": f"bench__repo-{i}", "model_name_or_path": "bench-sleep",
                       "model_patch": os.environ["BENCH_PATCH"], "attempt": 1}) + "\\n"
    fd = os.open("runs/bench/predictions.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
    os.write(fd, line.encode())
    os.close(fd)
    with os.scandir(folder) as entries:  # the attempt's folder, listed for files others wrote
        for entry in entries:
            entry.stat()

async def main(n, sleep, concurrency):
    files = os.environ.get("BENCH_FILES") == "1"
    db = sqlite3.connect(os.environ["BENCH_DB"], isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE calls (attempt INTEGER PRIMARY KEY, finished_at REAL, reply TEXT)")
    loop = asyncio.get_running_loop()
    marker = os.environ["BENCH_FIRST_CALL"]
    slots = asyncio.Semaphore(concurrency)
    queued, committed = [], None

    def commit():  # one transaction for every row queued since the last: a group commit
        nonlocal queued, committed
        rows, done, queued, committed = queued, committed, [], None
        db.execute("BEGIN")
        db.executemany("INSERT INTO calls VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")
        done.set_result(None)

    async def attempt(i):
        nonlocal committed
        async with slots:
            if not os.path.exists(marker):
                Path(marker).write_text(f"{time.time()!r} {time.process_time()!r}")
            await asyncio.sleep(sleep)  # the model call
            if files:
                keep_files(i)
            queued.append((i, time.time(), "done"))
            if committed is None:
                committed = loop.create_future()
                loop.call_soon(commit)  # after the tasks ready now have queued their rows
            await committed  # the attempt is over once its row is committed

    await asyncio.gather(*(attempt(i) for i in range(n)))
    assert db.execute("SELECT count(*) FROM calls").fetchone()[0] == n

asyncio.run(main(int(os.environ["BENCH_N"]), float(os.environ["BENCH_SLEEP"]), int(os.environ["BENCH_CONCURRENCY"])))
u = resource.getrusage(resource.RUSAGE_SELF)
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
json.dump({"cpu_s": u.ru_utime + u.ru_stime, "maxrss_kb": u.ru_maxrss, "wchar": int(io["wchar"])},
          open(os.environ["BENCH_STATS"], "w"))
"""


def run_floor(attempts: int, sleep: float, concurrency: int, files: bool = False) -> dict:
    """The floor the issue measured Ramp against, on this machine: a bare asyncio program (standard
    library only) that makes the same calls at the same concurrency and commits one SQLite row per
    call, in group commits on the same disk. Nothing an evaluation needs, only what any orchestrator
    must do; Ramp's figures over these are what Ramp itself costs, whatever the machine's speed.

    ``files``: each attempt also leaves the files Ramp keeps of it, written the way Ramp writes them
    (a folder of its own; patch.diff and eval.json through a temporary name, renamed; a line of
    predictions.jsonl; the folder listed). On some disks those calls cost the kernel more than all
    of Ramp's own work (on this project's VM a folder and two files took 0.8-2.3 ms of system CPU an
    attempt, and more with every run, against 0.1-0.2 ms on tmpfs): this floor says how much."""
    with tempfile.TemporaryDirectory(prefix="floor-orch-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "BENCH_N": str(attempts), "BENCH_SLEEP": str(sleep), "BENCH_PATCH": PATCH,
               "BENCH_FILES": "1" if files else "0",
               "BENCH_CONCURRENCY": str(concurrency), "BENCH_DB": str(folder / "floor.sqlite"),
               "BENCH_FIRST_CALL": str(folder / "first-call"), "BENCH_STATS": str(folder / "stats.json")}  # fmt: skip
        name = "floor+files" if files else "floor"
        return measured_child(name, "the floor program", [sys.executable, "-c", FLOOR_PROGRAM], folder, env)


def measured_child(
    tool: str, what: str, command: list[str], folder: Path, env: dict[str, str], cwd: Path | None = None
) -> dict:
    """Run a measured child whose driver writes ``first-call`` and ``stats.json`` in ``folder``; its
    wall, CPU (and that of the processes it started), start-up, peak RSS and bytes written, with its
    stats and output for the caller's own figures."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_at, started = time.time(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd or folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or not (folder / "stats.json").exists():
        sys.exit(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    stats = json.loads((folder / "stats.json").read_text())
    first, startup_cpu = map(float, (folder / "first-call").read_text().split())
    children_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) - stats["cpu_s"]
    return {"tool": tool, "wall": wall, "cpu_s": stats["cpu_s"], "children_cpu_s": max(children_cpu, 0.0),
            "startup": first - started_at, "startup_cpu_s": startup_cpu,
            "rss_mb": stats["maxrss_kb"] / 1024, "wchar": stats["wchar"],
            "stats": stats, "stdout": done.stdout, "stderr": done.stderr}  # fmt: skip


def over_floor(ramp: dict, floor: dict, attempts: int, sleep: float, concurrency: int) -> None:
    """Ramp against the floor of the same pair: CPU as a ratio, wall as the seconds Ramp adds."""
    rounds = math.ceil(attempts / concurrency) * sleep
    print(f"ramp over the {floor['tool']}: CPU per attempt {ramp['cpu_s'] / floor['cpu_s']:.1f}x "
          f"(+{(ramp['cpu_s'] - floor['cpu_s']) / attempts * 1000:.2f} ms/attempt); wall beyond the "
          f"{rounds:.2f}s of whole rounds: ramp {ramp['wall'] - rounds:.3f}s, {floor['tool']} {floor['wall'] - rounds:.3f}s; "
          f"start-up ramp {ramp['startup']:.3f}s, {floor['tool']} {floor['startup']:.3f}s", flush=True)  # fmt: skip


def ensure_inspect(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with inspect-ai=={INSPECT_VERSION} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"inspect-ai=={INSPECT_VERSION}"], check=True)
    return python


def run_inspect(python: Path, attempts: int, sleep: float, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="inspect-orch-") as tmp:
        folder = Path(tmp)
        (folder / "bench_task.py").write_text(INSPECT_TASK)
        driver = (
            "import json, os, resource, sys\n"
            "sys.path.insert(0, os.environ['BENCH_DIR'])\n"
            "from inspect_ai import eval as run\n"
            "import bench_task\n"
            f"logs = run(bench_task.bench(), model=bench_task.model(), max_connections={concurrency}, "
            f"max_samples={concurrency}, display='none', log_dir=os.path.join(os.environ['BENCH_DIR'], 'logs'))\n"
            "if logs[0].status != 'success' or logs[0].results.completed_samples != int(os.environ['BENCH_N']):\n"
            "    sys.exit(f'inspect eval did not finish every sample: {logs[0].status} {logs[0].error}')\n"
            "u = resource.getrusage(resource.RUSAGE_SELF)\n"
            "io = dict(l.split(': ') for l in open('/proc/self/io').read().splitlines())\n"
            "json.dump({'cpu_s': u.ru_utime + u.ru_stime, 'maxrss_kb': u.ru_maxrss, 'wchar': int(io['wchar'])},"
            " open(os.environ['BENCH_STATS'], 'w'))\n"
        )
        env = {**os.environ, "BENCH_DIR": str(folder), "BENCH_N": str(attempts), "BENCH_SLEEP": str(sleep),
               "BENCH_FIRST_CALL": str(folder / "first-call"), "BENCH_STATS": str(folder / "stats.json")}  # fmt: skip
        env.pop("PYTHONPATH", None)
        return measured_child("inspect", "inspect eval", [str(python), "-c", driver], folder, env)


def show(result: dict, attempts: int, sleep: float, concurrency: int) -> None:
    ideal = attempts / concurrency * sleep
    floor = math.ceil(attempts / concurrency) * sleep  # whole rounds of equal calls: the real floor
    line = (f"{result['tool']:8s} wall {result['wall']:6.2f}s = {result['wall'] / ideal:5.2f}x ideal "
            f"({ideal:.2f}s; {result['wall'] / floor:.2f}x the {floor:.2f}s of whole rounds); CPU {result['cpu_s'] / attempts * 1000:5.2f} ms/attempt "
            f"({(result['cpu_s'] - result['startup_cpu_s']) / attempts * 1000:.2f} after the {result['startup_cpu_s']:.2f} s of start-up); "
            f"start-up {result['startup']:.2f}s; peak RSS {result['rss_mb']:.0f} MB; "
            f"written {result['wchar'] / attempts / 1024:.1f} KB/attempt")  # fmt: skip
    if result["tool"] == "ramp":
        line += (f"; SQLite wrote {result['sqlite_bytes'] / attempts / 1024:.1f} KB/attempt "
                 f"(WAL {result['wal_bytes'] / attempts / 1024:.1f} KB, checkpoints "
                 f"{result['checkpoint_bytes'] / attempts / 1024:.1f} KB); "
                 f"commits {result['commits'] / attempts:.2f}/attempt, "
                 f"SQL statements {result['statements'] / attempts:.1f}/attempt; "
                 f"child processes {result['children_cpu_s'] / attempts * 1000:.2f} ms CPU/attempt; "
                 f"resolved {sum(o == 'resolved' for o in result['summary']['outcomes'].values())}")  # fmt: skip
    print(line, flush=True)


def compile_first() -> None:
    """Bring Ramp's bytecode up to date before the first child starts. Where
    ``PYTHONDONTWRITEBYTECODE`` is set (some containers and CI images set it; this machine's does),
    imports never write it, so every child compiled the modules edited since the last compile
    again, and the start-up figure was partly the compiler's: about 50 ms in a fresh checkout."""
    import compileall

    for folder in ("engine", "tui", "benchmarks"):
        compileall.compile_dir(ROOT / folder, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=0.05, help="seconds each model call sleeps")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="A/B pairs")
    parser.add_argument("--inspect", type=Path, help="virtualenv for Inspect AI (created when missing)")
    parser.add_argument("--estimate-usage", action="store_true",
                        help="the provider reports no usage: Ramp counts it with the tokenizer (about 0.15 s to load)")
    parser.add_argument("--floor", action="store_true",
                        help="run the bare asyncio + SQLite floor program too, interleaved (see run_floor)")
    parser.add_argument("--files", action="store_true",
                        help="the floor (--floor implied) also writes each attempt's files as Ramp does (see run_floor)")
    args = parser.parse_args()
    args.floor = args.floor or args.files
    python = ensure_inspect(args.inspect) if args.inspect else None
    compile_first()
    print(f"workload: {args.attempts} attempts x one {args.sleep}s model call, concurrency {args.concurrency}; "
          f"usage {'counted by Ramp' if args.estimate_usage else 'reported by the provider'}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)  # fmt: skip
    for _ in range(args.repeat):
        ramp = run_ramp(args.attempts, args.sleep, args.concurrency, args.estimate_usage)
        show(ramp, args.attempts, args.sleep, args.concurrency)
        if args.floor:
            floor = run_floor(args.attempts, args.sleep, args.concurrency, args.files)
            show(floor, args.attempts, args.sleep, args.concurrency)
            over_floor(ramp, floor, args.attempts, args.sleep, args.concurrency)
        if python:
            show(run_inspect(python, args.attempts, args.sleep, args.concurrency), args.attempts, args.sleep,
                 args.concurrency)  # fmt: skip


if __name__ == "__main__":
    main()
