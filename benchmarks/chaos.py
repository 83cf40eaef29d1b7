"""The chaos suite's long run: it prints what it did and what broke.

    python benchmarks/chaos.py [--random-kills 20] [--fault-rate 0.3] [--seed 1]

1. Kills. The demo (12 bundled tasks, direct-edit with the scripted model, ramped 4 -> 8 -> 12) is
   run clean once for reference. Then it is SIGKILLed at every named moment (tests/chaos.MOMENTS,
   found by polling the store) and at random times (a fresh run each), resumed after each kill,
   and compared with the reference: lost or duplicated attempts, evaluations, predictions or events;
   gates without a verdict; attempts whose outcome or error class changed; call counters that do not
   match llm_calls.
2. Faults. The bash agent against an OpenAI-compatible server on loopback that answers a fault (429,
   500, 503, a hang past the read timeout, a dropped connection, a cut stream, a cut JSON body, a reply
   with no choices) to a share of requests: how many were injected, and how many were scored against
   the model (the target is 0).
3. A planted secret, long and short, written into the repository by the agent: hits on disk after
   kills in the agent and in the evaluation, and after the resume.
4. The malformed-input corpus (tests/fuzzcases.py): cases refused with exit 2 and a message that
   names their file or field.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos import (  # noqa: E402
    MOMENTS,
    RunRecord,
    demo_args,
    fault_matrix,
    finish,
    kill_and_resume,
    kill_at,
    secret_hits,
    secret_setup,
    start,
)
from tests.fuzzcases import CASES, run_case  # noqa: E402

ALL = ",".join(
    f"ramp-bundled__{name}-1" for name in ("romans", "iniparse", "slugkit", "csvstats", "lrucache", "semverkit",
                                           "daterange", "moneyround", "matrixkit", "urlquery", "retrykit", "wraptext")
)


def kills(work: Path, cache: Path, random_kills: int, seed: int) -> int:
    args = lambda runs: demo_args(runs, "chaos", ALL, "4,8,12")  # noqa: E731
    began = time.monotonic()
    ref = finish(args(work / "reference"), cache)
    if ref.returncode != 0:
        raise SystemExit(f"the reference run failed: {ref.stderr[-2000:]}")
    reference = RunRecord.read(work / "reference", "chaos")
    cold_s = time.monotonic() - began
    began = time.monotonic()
    finish(args(work / "warm"), cache)  # environments are built now: this is how long a run takes
    clean_s = time.monotonic() - began
    classes = sorted({f"{o}/{e}" for _, o, e in reference.attempts.values()})
    print(f"reference: {len(reference.attempts)} attempts, tiers {reference.tiers}, outcomes {classes}; "
          f"{cold_s:.1f} s cold, {clean_s:.1f} s warm")
    failed = landed = 0

    def campaign(name: str, plan: list[str | float]) -> int:
        nonlocal failed
        runs = work / "campaign"
        report = kill_and_resume(name, args(runs), runs, "chaos", cache, reference, kills=plan)
        failed += bool(report.problems)
        status = "ok" if not report.problems else "BROKEN: " + "; ".join(report.problems)
        print(f"  {name:<24} killed at {report.killed_after_s} s, {report.resumes} resume(s): {status}")
        shutil.rmtree(runs, ignore_errors=True)
        return len(report.killed_after_s)

    for moment in MOMENTS:
        landed += campaign(f"moment {moment}", [moment])
    # Each random kill hits a fresh run at a time drawn over a warm run's length; one that comes
    # after the run ended does not count, and another is drawn (up to twice as many campaigns).
    rng, random_landed, tries = random.Random(seed), 0, 0
    while random_landed < random_kills and tries < 2 * random_kills:
        tries += 1
        random_landed += campaign(f"random {tries}", [round(rng.uniform(0.3, clean_s), 2)])
    print(f"kills: {landed + random_landed} SIGKILLs landed ({landed} at the {len(MOMENTS)} named moments, "
          f"{random_landed} at random times in {tries} runs); runs with anything lost, duplicated, ungated "
          f"or reclassified after the resume: {failed}")
    return failed + (random_landed < random_kills)


def faults(work: Path, cache: Path, rate: float, seed: int) -> int:
    began = time.monotonic()
    report = fault_matrix(work / "faults", cache, work, rate=rate, instances=ALL, attempts=3, seed=seed)
    injected = sum(report.injected.values())
    print(f"faults at {rate:.0%}: {report.requests} requests ({report.recorded_calls} llm_calls rows), "
          f"{injected} faults injected {dict(sorted(report.injected.items()))}, {report.attempts} attempts "
          f"{report.outcomes}; provider faults scored against the model: {report.scored_provider_faults} "
          f"({time.monotonic() - began:.1f} s)")
    return report.scored_provider_faults + (report.requests != report.recorded_calls)


def secret(work: Path, cache: Path) -> int:
    config, secrets = secret_setup(work)
    runs = work / "secret-runs"
    args = ["run", "-c", str(config), "--headless", "--json", "--runs-dir", str(runs), "--run-id", "leak"]
    hits_after_kills = 0
    for moment in ("SELECT 1 WHERE (SELECT COUNT(*) FROM llm_calls) >= 2",
                   "SELECT 1 FROM instances WHERE state = 'evaluating'"):
        proc = start(args, cache)
        kill_at(proc, runs / "ramp.sqlite", moment, timeout=120)
        if proc.stderr:
            proc.stderr.close()
        hits_after_kills += len(secret_hits([runs], secrets))
    out = finish(args, cache)
    hits = secret_hits([runs, cache / "work", cache / "worktrees"], secrets)
    print(f"planted secret (long and short): {hits_after_kills} hits in the run folder after 2 kills, "
          f"{len(hits)} on disk after the resume (exit {out.returncode})")
    return hits_after_kills + len(hits)


def fuzz(work: Path, cache: Path) -> int:
    bad = []
    for index, case in enumerate(CASES):
        outcome = run_case(case, work / f"fuzz-{index}", cache)
        if problems := outcome.problems(case):
            bad.append(f"{case.name}: {problems}")
    kinds = sorted({c.name.split("/")[0] for c in CASES})
    print(f"fuzz: {len(CASES) - len(bad)} of {len(CASES)} malformed inputs ({', '.join(kinds)}) exit 2 with a "
          "message naming their file or field, no traceback, nothing written outside the runs folder")
    for line in bad:
        print(f"  FAILED {line}")
    return len(bad)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random-kills", type=int, default=20)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ramp-chaos-") as tmp:
        work, cache = Path(tmp), Path(tmp) / "cache"
        broken = kills(work, cache, args.random_kills, args.seed)
        broken += faults(work, cache, args.fault_rate, args.seed)
        broken += secret(work, cache)
        broken += fuzz(work, cache)
    print(f"chaos: {'PASS' if not broken else f'{broken} FAILURE(S)'} in {time.monotonic() - began:.0f} s")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
