"""An agent that never touches its sandbox (gold, empty, a predictions file) gets none: no
checkout is made for its attempts; one that says so and then uses it fails loudly as infra."""

from __future__ import annotations

from pathlib import Path

from engine.agents.base import AgentBase, AgentResult, Budgets
from engine.agents.baseline import GoldAgent
from engine.core.artifacts import RunFolder
from engine.core.config import GovernorConfig
from engine.datasets.rows import SWEInstance
from engine.evaluators.base import EvalResult
from engine.run.context import Backends, Plan, RunContext, RunOptions
from engine.run.display import NullDisplay
from engine.run.governor import Governor, HostSample
from engine.run.scheduler import Scheduler
from engine.store import Store

PATCH = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"


class CountingSandboxes:
    name = "counting"

    def __init__(self) -> None:
        self.created = 0

    async def create(self, instance, key):
        self.created += 1
        raise AssertionError("no sandbox should be made for this agent")

    async def preflight(self, instances):
        return []


class Resolves:
    name = "resolves"

    async def evaluate(self, request):
        return EvalResult(resolved=True, applied=True, duration_s=0.0)


class ClaimsNoSandboxButUsesIt(AgentBase):
    name = "liar"
    needs_model = False
    uses_sandbox = False

    async def run(self, task, sandbox, model, reporter):
        await sandbox.run("true")
        return AgentResult(patch=PATCH, exit_status="submitted")


async def run(tmp_path: Path, agent) -> tuple[dict[str, str | None], list[dict], CountingSandboxes]:
    rows = [SWEInstance(instance_id=f"o__r-{n}", repo="o/r", base_commit="0" * 40, patch=PATCH, test_patch="", version="1",
                        FAIL_TO_PASS=["t"], PASS_TO_PASS=[]) for n in range(3)]  # fmt: skip
    sandboxes = CountingSandboxes()
    async with Store(tmp_path / "ramp.sqlite") as store:
        await store.create_run("r", config={}, meta={}, instances=[(i.instance_id, i.repo, 0, n) for n, i in enumerate(rows)],
                               phases=[(3, None)])  # fmt: skip
        governor = Governor(GovernorConfig(min_free_disk_mb=0, min_free_memory_mb=0, settle_s=0), tmp_path,
                            sampler=lambda: HostSample(0.0, 1e6, 1e6))  # fmt: skip
        scheduler = Scheduler(RunContext(
            run_id="r", store=store, folder=RunFolder(tmp_path, "r"),
            options=RunOptions(attempts=1, attempt_policy="fixed", agent_concurrency=2, max_retries=0,
                               budgets=Budgets(max_wall_s=None)),
            backends=Backends(agent, Resolves(), sandboxes), governor=governor, display=NullDisplay(),
            plan=Plan.of(rows, [3]),
        ))  # fmt: skip
        await scheduler.run()
        return scheduler.outcomes(), await store.attempts("r"), sandboxes


async def test_the_gold_agent_gets_no_checkout(tmp_path):
    outcomes, attempts, sandboxes = await run(tmp_path, GoldAgent())
    assert sandboxes.created == 0
    assert set(outcomes.values()) == {"resolved"} and all(a["status"] == "done" for a in attempts)


async def test_an_agent_that_uses_the_sandbox_it_declined_fails_as_infra_naming_why(tmp_path):
    outcomes, attempts, sandboxes = await run(tmp_path, ClaimsNoSandboxButUsesIt())
    assert sandboxes.created == 0 and set(outcomes.values()) == {"error"}
    assert {a["error_class"] for a in attempts} == {"infra"}
    assert all("declares uses_sandbox = False but used its sandbox" in a["detail"] for a in attempts)
