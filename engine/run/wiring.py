"""One wiring path from settings to ready backends, shared by ``ramp run``, ``ramp demo`` and
``ramp doctor``: credentials and their redactor, the agent, the dataset and the selected instances,
the repository cache, the evaluator and the sandbox factory, and every preflight check on them.

:func:`wire` builds them and :meth:`Wiring.checks` asks each what is missing; the runner refuses to
start on a failing check, the doctor prints them all. Nothing here opens the store or starts a run.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import anyio

from ..agents import AGENTS
from ..agents.base import Agent
from ..core.artifacts import MAX_ID_LENGTH, id_problem, shown_id
from ..core.config import Settings
from ..core.errors import ConfigError, ExitCode, RampError
from ..core.secrets import Redactor, Secrets
from ..core.secrets import install as install_redactor
from ..datasets.rows import TaskRow
from ..evaluators import build_evaluator
from ..evaluators.base import Evaluator
from ..executors import wrap
from ..sandbox import build_sandbox_factory
from ..sandbox.base import NoSandboxFactory, SandboxFactory
from ..workspace.repos import DEFAULT_SOURCE, RepoCache
from ..workspace.scratch import sweep_cache
from .families import check_agent, family_of
from .preflight import Check, backend_checks, host_checks


def new_run_id(agent: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{agent}-{secrets.token_hex(2)}"


def check_run_id(run_id: str, field: str = "--run-id") -> None:
    """Refuse a run id that cannot name a folder (``..``, a separator, 5,000 characters), before
    anything is written: the run folder is ``<runs_dir>/<run_id>``."""
    if problem := id_problem(run_id):
        raise ConfigError(
            f"run id {shown_id(run_id)} is not usable: {problem}; use letters, digits, '.', '_' and '-' "
            f"(at most {MAX_ID_LENGTH} characters)",
            field=field,
        )


def phase_sizes(requested: list[int], available: int) -> list[int]:
    """Clip the ramp plan to the instances available: [5, 10, 30] over 12 gives [5, 10, 12]."""
    if not requested:
        return [available]
    sizes: list[int] = []
    for size in requested:
        size = min(size, available)
        if not sizes or size > sizes[-1]:
            sizes.append(size)
    return sizes


#: How many dataset problems a message or the alerts list before counting the rest.
LISTED_PROBLEMS = 20


def describe_problems(problems: list[Any]) -> str:
    """The dataset rows that were skipped, each with its file, line and reason."""
    lines = [f"  skipped: {p}" for p in problems[:LISTED_PROBLEMS]]
    if len(problems) > LISTED_PROBLEMS:
        lines.append(f"  ... and {len(problems) - LISTED_PROBLEMS} more (all in the run's manifest.json)")
    return f"{len(problems)} dataset row(s) skipped (run.on_malformed: refuse stops instead):\n" + "\n".join(lines)


async def prepare_instances(
    settings: Settings, answers: frozenset[str] | None = None
) -> tuple[Any, list[TaskRow], list[int], list[str]]:
    """Load the dataset, select instances in order, and clip the phase plan to them. With
    ``answers`` (the instances an agent has predictions for) only those are selected; the notes
    returned say which of the dataset's were left out and which predictions it does not hold."""
    from ..datasets import resolve_dataset, select

    run = settings.run
    try:
        dataset = resolve_dataset(
            run.dataset,
            lock_path=settings.paths.lock_file,
            cache_dir=settings.paths.resolved_cache_dir(),
            on_malformed=run.on_malformed,
            split=run.suite_split,
            seed=run.seed,
            heldout_share=run.heldout_share,
        )
    except ConfigError as exc:
        raise settings.located(exc, "run", "dataset") from None
    wanted = max(settings.phase_sizes(), default=0) or None
    if run.limit is not None:
        wanted = min(wanted or run.limit, run.limit)
    rows, notes = _answered(dataset.rows, answers, run.instances, str(dataset.source))
    try:
        chosen = select(
            rows,
            ids=run.instances or None,
            slice_file=run.slice,
            n=wanted,
            seed=run.seed,
        )
    except ConfigError as exc:
        if not dataset.problems:
            raise
        raise type(exc)(f"{exc}\n{describe_problems(dataset.problems)}") from None
    if not chosen:
        why = f"\n{describe_problems(dataset.problems)}" if dataset.problems else ""
        raise ConfigError(f"no instances selected from {dataset.source}{why}", field="run.instances")
    sizes = phase_sizes(asked := settings.phase_sizes(), len(chosen))
    if asked and max(asked) > len(chosen):
        notes.append(f"phases {asked} asked for {max(asked)} instances but {len(chosen)} were selected: "
                     f"the plan is {sizes}")  # fmt: skip
    return dataset, chosen, sizes, notes


def _answered(
    rows: list[TaskRow], answers: frozenset[str] | None, asked: list[str], source: str
) -> tuple[list[TaskRow], list[str]]:
    """The rows an agent can answer, and what the operator should know about the rest."""
    if answers is None:
        return rows, []
    ids = {row.instance_id for row in rows}
    unanswered = [i for i in asked if i not in answers]
    if unanswered:
        raise ConfigError(
            f"no prediction for {len(unanswered)} instance(s) asked for: {', '.join(unanswered[:LISTED_PROBLEMS])}",
            field="run.instances",
        )
    notes = []
    missing = sorted(ids - answers)
    if missing:
        notes.append(f"{len(missing)} instance(s) of {source} have no prediction and are not run "
                     f"(not counted against the model): {_listed(missing)}")
    stray = sorted(answers - ids)
    if stray:
        notes.append(f"{len(stray)} prediction(s) are for instances {source} does not hold: {_listed(stray)}")
    return [row for row in rows if row.instance_id in answers], notes


def _listed(ids: list[str]) -> str:
    more = len(ids) - LISTED_PROBLEMS
    return ", ".join(ids[:LISTED_PROBLEMS]) + (f" and {more} more" if more > 0 else "")


async def without_source(
    instances: list[TaskRow], repos: RepoCache
) -> tuple[list[TaskRow], list[str]]:
    """The instances whose repository's source answers, and a note per repository that does not:
    its rows are skipped and reported, not a reason to refuse the whole run. ConfigError when no
    instance is left."""
    problems: dict[str, str] = {}
    for repo in dict.fromkeys(i.repo for i in instances):
        if problem := await repos.check_source(repo):
            problems[repo] = problem
    if not problems:
        return instances, []
    kept = [i for i in instances if i.repo not in problems]
    notes = [
        f"{sum(1 for i in instances if i.repo == repo)} instance(s) of {repo} skipped: {problem}"
        for repo, problem in problems.items()
    ]
    if not kept:
        raise ConfigError("no selected instance has a repository source:\n  " + "\n  ".join(notes),
                          field="run.repo_source")
    return kept, notes


@dataclass
class Wiring:
    """What a run is made of, before any of it runs."""

    settings: Settings
    run_id: str
    credentials: Secrets
    redact: Redactor
    agent: Agent
    dataset: Any
    instances: list[TaskRow]
    phases: list[int]
    repo_source: str
    evaluator: Evaluator
    sandboxes: SandboxFactory
    #: Scratch folders that killed Ramp processes left, removed before anything else.
    swept: list[Any]
    #: What the operator should know about the selection (instances without a prediction, ...).
    notes: list[str]

    async def checks(self, *, store_wal: bool | None = None) -> list[Check]:
        """Every preflight check that does not need the model: the host, the evaluator, the
        sandbox (a problem both report is listed once). ``store_wal``: see :func:`host_checks`."""
        checks = host_checks(self.settings, store_wal=store_wal)
        checks += backend_checks(f"evaluator {self.evaluator.name}", await self.evaluator.preflight(self.instances))
        seen = {c.detail for c in checks if not c.ok}
        problems = await self.sandboxes.preflight(self.instances)
        checks += [c for c in backend_checks(f"sandbox {self.sandboxes.name}", problems)
                   if c.ok or c.detail not in seen]
        return checks

    @property
    def model_label(self) -> str | None:
        """The run's model as the store, reports and leaderboard name it."""
        return self.settings.run.model or self.agent.model_label

    async def aclose(self) -> None:
        await self.evaluator.aclose()


def build_agent(settings: Settings) -> Agent:
    """The configured agent, with its own config section (``agents.<name>``) when it has one."""
    try:
        agent_cls = AGENTS.get(settings.run.agent)
    except ConfigError as exc:
        raise settings.located(exc, "run", "agent") from None
    config_cls = getattr(agent_cls, "Config", None)
    if config_cls is None:
        return agent_cls()
    return agent_cls(settings.backend_config(config_cls, "agents", settings.run.agent))


async def wire(settings: Settings, run_id: str | None = None) -> Wiring:
    """Credentials, agent, instances, evaluator and sandboxes for ``settings``; ConfigError for bad
    input, naming the file and field. Installs the credentials' redactor for logs and errors."""
    credentials = Secrets.load(settings.paths.secrets_file)
    redact = Redactor.for_secrets(credentials)
    install_redactor(redact)  # logs, and writers that use engine.core.secrets.current()
    run_id = run_id or new_run_id(settings.run.agent)
    check_run_id(run_id)
    cache_dir = settings.paths.resolved_cache_dir()
    # Checkouts and worktrees that killed processes left (code, perhaps a secret an agent wrote).
    swept = await anyio.to_thread.run_sync(sweep_cache, cache_dir)
    agent = build_agent(settings)
    dataset, instances, phases, notes = await prepare_instances(settings, agent.instance_ids)
    family = family_of(dataset.family)
    try:
        check_agent(family, settings.run.agent)
    except ConfigError as exc:
        raise settings.located(exc, "run", "agent") from None
    if not family.uses_repos:  # graded by the family's own evaluator, with nothing checked out
        evaluator = build_evaluator(settings, repo_source="", repo_cache=None, name=family.evaluator)
        evaluator, sandboxes, placed = wrap(settings, run_id, "", evaluator, NoSandboxFactory(), family.evaluator or "")
        return Wiring(settings, run_id, credentials, redact, agent, dataset, instances, phases, "",
                      evaluator, sandboxes, swept, notes + placed)
    repo_source = settings.run.repo_source or dataset.repo_source or DEFAULT_SOURCE
    repo_cache = RepoCache(cache_dir, repo_source)
    instances, unsourced = await without_source(instances, repo_cache)
    notes += unsourced
    phases = phase_sizes(settings.phase_sizes(), len(instances)) if unsourced else phases
    evaluator = build_evaluator(settings, repo_source=repo_source, repo_cache=repo_cache)
    sandboxes = build_sandbox_factory(settings, repo_cache=repo_cache, run_id=run_id)
    evaluator, sandboxes, placed = wrap(settings, run_id, repo_source, evaluator, sandboxes)
    return Wiring(settings, run_id, credentials, redact, agent, dataset, instances, phases, repo_source,
                  evaluator, sandboxes, swept, notes + placed)


class PreflightFailed(RampError):
    """The run cannot start: something it needs is missing."""

    exit_code = ExitCode.INFRA

    def __init__(self, checks: list[Check]):
        self.checks = checks
        super().__init__("preflight failed:\n" + "\n".join("  " + c.line() for c in checks))
