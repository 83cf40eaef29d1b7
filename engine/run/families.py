"""Task families: which agents, evaluator and workspaces a dataset's rows need.

The scheduler, store, metrics, gates, TUI and reports run any family's rows (engine.datasets.rows.
TaskRow). What differs is wired here: SWE-bench rows need repositories, a sandbox and one of the
SWE-bench evaluators; function-completion rows need none of that, are graded by the completion
grader, and are answered by ``gold``, ``empty`` or ``complete``. A family refuses an agent it cannot
run before anything starts, naming the field and the agents it has.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigError


@dataclass(frozen=True)
class Family:
    name: str
    #: Agents that can answer its rows; None: every agent not tied to another family.
    agents: frozenset[str] | None
    #: The evaluator its rows are graded by; None: ``run.evaluator``.
    evaluator: str | None
    #: Whether its rows are repositories (sources, checkouts, sandboxes).
    uses_repos: bool
    #: How a user picks a dataset of this family (for messages).
    datasets: str


FAMILIES = {
    "swebench": Family("swebench", None, None, True, "bundled, a SWE-bench file, or a Hugging Face name"),
    "completion": Family(
        "completion", frozenset({"gold", "empty", "complete"}), "completion", False,
        "humaneval, humaneval:PATH, mbpp:PATH or a .jsonl of completion problems",
    ),
    "suite": Family("suite", frozenset({"gold", "empty", "complete"}), "suite", False, "suite:PATH"),
}

#: Agents that answer only rows without repositories (completion problems, suite tasks).
REPOLESS_AGENTS = frozenset({"complete"})


def family_of(name: str) -> Family:
    return FAMILIES[name]


def check_agent(family: Family, agent: str) -> None:
    """ConfigError (field run.agent) when ``family`` cannot run ``agent``."""
    if family.agents is not None and agent not in family.agents:
        raise ConfigError(
            f"agent {agent!r} cannot answer {family.name} rows; use one of {', '.join(sorted(family.agents))}",
            field="run.agent",
        )
    if family.uses_repos and agent in REPOLESS_AGENTS:
        others = "; ".join(f.datasets for f in FAMILIES.values() if not f.uses_repos)
        raise ConfigError(
            f"agent {agent!r} answers code-completion problems and suite tasks, and the dataset holds "
            f"{family.name} rows; choose such a dataset ({others}) or another agent",
            field="run.agent",
        )
