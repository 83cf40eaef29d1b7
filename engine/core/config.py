"""The configuration tree: config/ramp.yaml, then the environment, then command-line flags.

Every field has a description, because the description is what an operator reads when a value is
rejected. Layers are merged as plain dicts while remembering where each value came from, so that a
validation error names the file (or the environment variable, or the flag), the dotted field, what
was expected, and the value that was given. Bad config exits with code 2 and never a traceback.

Environment variables: ``RAMP_<SECTION>__<FIELD>`` (for example ``RAMP_RUN__AGENT=gold`` or
``RAMP_GOVERNOR__CPU_TARGET=0.7``); values are parsed as YAML scalars or lists. ``RAMP_RUNS_DIR`` and
``RAMP_CONFIG`` are shortcuts for ``paths.runs_dir`` and the config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .errors import ConfigError
from .feedback import FeedbackConfig, RegradeConfig
from .gates import GateConfig

#: The checkout Ramp runs from: its config/ holds the shipped defaults.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def shipped(path: Path) -> Path:
    """A relative path as given when it exists from the working directory, else the project's
    shipped copy (so `ramp` works from any directory), else as given (and its error names it)."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    candidate = PROJECT_ROOT / path
    return candidate if candidate.exists() else path


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PathsConfig(Section):
    runs_dir: Path = Field(
        default=Path("runs"),
        description="Holds ramp.sqlite and one folder per run. Also RAMP_RUNS_DIR or --runs-dir.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Repo clones, venvs and bundled mirrors, shared across runs. "
        "Default: <runs_dir>/.cache.",
    )
    lock_file: Path = Field(
        default=Path("config/dataset.lock"),
        description="Pinned Hugging Face dataset revisions and content hashes.",
    )
    secrets_file: Path = Field(
        default=Path("secrets/credentials.txt"),
        description="KEY=VALUE credentials, never committed (secrets/credentials.example shows the keys).",
    )
    models_file: Path = Field(
        default=Path("config/models.yaml"),
        validate_default=True,
        description="The model catalog: providers, model names, prices, context windows and rate limits.",
    )

    @field_validator("models_file")
    @classmethod
    def _shipped_catalog(cls, value: Path) -> Path:
        return shipped(value)

    @field_validator("runs_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Fixed to the directory Ramp was started in: build steps and containers run elsewhere
        # (a build folder, /testbed), where a relative runs/.cache would point somewhere else.
        if value is None:
            return None
        value = value.expanduser().absolute()
        for folder in (value, *value.parents):
            if folder.exists():
                if not folder.is_dir():
                    raise ValueError(f"{folder} is a file, not a folder; point it at a folder (made if missing)")
                break
        return value

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.runs_dir / ".cache"


class Budgets(BaseModel):
    """Limits one attempt may not cross. None means unlimited. (Here, in the core, because the
    run config holds them; agents receive them in their task.)"""

    model_config = ConfigDict(extra="forbid")  # a misspelt limit must not silently mean "no limit"

    max_steps: int | None = Field(default=30, ge=1, description="Agent turns (model calls that act).")
    max_tokens: int | None = Field(default=None, ge=1, description="Input plus output tokens.")
    max_cost_usd: float | None = Field(default=None, gt=0, description="Dollars for this attempt.")
    max_wall_s: float | None = Field(default=1800.0, gt=0, description="Wall-clock seconds for the agent.")


class RunSection(Section):
    dataset: str = Field(
        default="bundled",
        description="'bundled', a .json/.jsonl/.parquet file of SWE-bench rows, a Hugging Face "
        "name such as princeton-nlp/SWE-bench_Lite:dev (revision pinned in the lock file), code "
        "completion (humaneval, humaneval:PATH, mbpp:PATH) or a task suite (suite:PATH).",
    )
    instances: list[str] = Field(default_factory=list, description="Explicit instance ids to run.")
    suite_split: Literal["all", "tune", "heldout"] = Field(
        default="all", description="A task suite's part to run: its seeded, category-stratified "
        "held-out share, the rest (tune), or all of it. The split's seed is run.seed.",
    )
    heldout_share: float = Field(default=0.2, gt=0, lt=1, description="A task suite's held-out share.")
    slice: Path | None = Field(default=None, description="A pinned YAML slice (config/instances/*.yaml).")
    limit: int | None = Field(default=None, ge=1, description="Run at most this many instances.")
    seed: int = Field(default=0, description="Seed of the repo-stratified instance order.")
    on_malformed: Literal["skip", "refuse"] = Field(
        default="skip", description="What to do with dataset rows that fail validation."
    )
    agent: str = Field(default="gold", description="Agent name: empty, gold, direct-edit, bash, mini, "
                       "command, predictions; complete for code completion.")
    model: str | None = Field(default=None, description="Model id from config/models.yaml.")
    evaluator: str = Field(default="local", description="local (swebench-local) or docker.")
    sandbox: Literal["auto", "local", "docker"] = Field(
        default="auto",
        description="Where agents work: local (a checkout on the host), docker (a container of the "
        "image the patch is tested in, options under evaluators.docker), or auto: docker when the "
        "evaluator is docker, else local.",
    )
    attempts: int = Field(default=1, ge=1, le=100, description="K: attempts per instance.")
    attempt_policy: Literal["until-resolved", "fixed"] = Field(
        default="until-resolved",
        description="until-resolved stops at the first resolved attempt; fixed always draws K "
        "samples (needed for the unbiased pass@k estimator).",
    )
    max_retries: int = Field(
        default=2, ge=0, description="Retries of one attempt after a retryable error (infra, "
        "rate_limit, timeout, eval_flaky)."
    )
    retry_backoff_s: float = Field(default=2.0, ge=0, description="First retry delay; doubles each time.")
    agent_concurrency: int = Field(default=4, ge=1, description="Agent attempts running at once.")
    repo_source: str | None = Field(
        default=None,
        description="URL template for repositories: {repo}, {owner}, {name}. Default GitHub, or the "
        "bundled set's local mirrors. Example: file:///mirrors/{owner}+{name}",
    )
    heartbeat_s: float = Field(
        default=5.0, ge=1, description="Headless: a progress line (what runs, what waits and why) once "
        "nothing else was printed for this long, at the next governor sample (every 5 s).",
    )
    budgets: Budgets = Field(default_factory=Budgets, description="Per-attempt agent budgets.")
    budget_usd: float | None = Field(
        default=None, ge=0, description="Whole-run spend limit; new model calls stop before it."
    )
    executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where evaluations and agent sandboxes run: local (this machine, under the governor) "
        "or ray (a Ray cluster's nodes, options under ray; the scheduler, store and front ends stay here).",
    )
    cache: Literal["off", "read", "readwrite"] = Field(
        default="off",
        description="LLM response cache in <runs_dir>/llm-cache.sqlite: read answers a call the "
        "cache holds at $0 (marked cached), readwrite also keeps every new successful reply.",
    )


class GovernorConfig(Section):
    cpu_target: float = Field(
        default=0.8, gt=0, le=1.0,
        description="Host CPU to hold while evaluations wait, as a share of all cores: a new one starts while "
        "measured CPU is under it (moved by what the host lacked or had too much of over the last few samples, "
        "so that whole-core evaluations reach it as a mean) and it fits in the cores.",
    )
    min_free_memory_mb: int = Field(default=1024, ge=0, description="Memory floor for new evaluations.")
    min_free_disk_mb: int = Field(default=2048, ge=0, description="Free-disk floor (runs dir) for new evaluations.")
    max_concurrent_evals: int | None = Field(
        default=None, ge=1, description="Hard cap on evaluations at once. Default: number of cores."
    )
    sample_interval_s: float = Field(default=0.5, gt=0, description="How often CPU is measured.")
    settle_s: float = Field(
        default=2.0, ge=0,
        description="A newly started evaluation, while it runs, counts as the cores one running evaluation "
        "was measured to take (at first one), fading out over this long as its load shows in the samples.",
    )


class RayConfig(Section):
    address: str = Field(
        default="auto",
        description="The Ray cluster to join: host:port of its head (as `ray start --head` printed it), "
        "or auto (the cluster this machine is part of). Used with run.executor: ray.",
    )
    eval_cpus: float = Field(default=1.0, gt=0, description="CPUs Ray reserves for each evaluation.")
    eval_memory_mb: int = Field(
        default=0, ge=0, description="Memory Ray reserves for each evaluation (0: none reserved)."
    )
    sandbox_cpus: float = Field(
        default=0.0, ge=0,
        description="CPUs Ray reserves for each agent sandbox (an agent mostly waits for its model).",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Repository and environment caches on the nodes: a shared path every node mounts. "
        "Default: each node keeps its own, at paths.cache_dir as resolved on that node.",
    )
    connect_timeout_s: float = Field(
        default=30.0, gt=0, description="How long the head's address may take to answer before the run refuses to start."
    )


class PhaseConfig(Section):
    size: int = Field(ge=1, description="Instances in this phase, previous phases included.")
    name: str | None = Field(default=None, description="Label shown in the TUI and reports.")
    gate: GateConfig | None = Field(
        default=None,
        description="This phase's gate: the tiers it sets (stop, caution, excellent) replace those of "
        "ramp.gate; the tiers it leaves out are inherited.",
    )


class RampSection(Section):
    phases: list[PhaseConfig] = Field(
        default_factory=list,
        description="The ramp plan. Empty runs the whole selection as one phase. Phases are nested: "
        "each contains the previous one's instances.",
    )
    gate: GateConfig = Field(
        default_factory=GateConfig,
        description="The default gate judged after every phase: rules like 'resolved_rate >= 0.5' in "
        "three tiers (stop, caution, excellent) giving STOP, CAUTION, PROCEED or EXCELLENT.",
    )
    approval: Literal["manual", "auto"] = Field(
        default="manual",
        description="manual: a gate that is not the last waits for `ramp ctl RUN approve|reject` (or "
        "the TUI's keys). auto: STOP stops, any other tier proceeds. --auto-approve forces auto.",
    )
    baseline: str = Field(
        default="auto",
        description="The no-patch run the baseline spread is measured against: a run id, 'auto' (the "
        "latest finished empty-agent run on the same dataset content) or 'none'.",
    )
    feedback: FeedbackConfig = Field(
        default_factory=FeedbackConfig,
        description="Feedback-split mode (public/hidden FAIL_TO_PASS tests) and bug reproduction.",
    )
    regrade: RegradeConfig = Field(
        default_factory=RegradeConfig,
        description="Shares of resolved and unresolved attempts graded a second time at each gate.",
    )

    @field_validator("phases", mode="before")
    @classmethod
    def _sizes_as_phases(cls, value: Any) -> Any:
        # `--phases 5,10,30` and `phases: [5, 10, 30]` are shorthand for phases with only a size.
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return [{"size": v} if isinstance(v, int | str) else v for v in value]
        return value

    @field_validator("phases")
    @classmethod
    def _increasing(cls, phases: list[PhaseConfig]) -> list[PhaseConfig]:
        sizes = [p.size for p in phases]
        if sizes != sorted(set(sizes)):
            raise ValueError(f"phase sizes must strictly increase (phases are nested), got {sizes}")
        return phases


class Settings(Section):
    """The whole configuration tree."""

    paths: PathsConfig = Field(default_factory=PathsConfig)
    run: RunSection = Field(default_factory=RunSection)
    governor: GovernorConfig = Field(default_factory=GovernorConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    ramp: RampSection = Field(default_factory=RampSection)
    evaluators: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-evaluator options, validated by that evaluator's config."
    )
    agents: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-agent options, validated by that agent's config."
    )

    #: Where each setting came from (a file, an environment variable, a flag), for messages.
    _origin: dict[tuple[str, ...], str] = PrivateAttr(default_factory=dict)

    def phase_sizes(self) -> list[int]:
        return [p.size for p in self.ramp.phases]

    def source(self, *path: str) -> str:
        """The file, variable or flag that set the setting at ``path`` ("defaults" if none did)."""
        while path:
            if path in self._origin:
                return self._origin[path]
            path = path[:-1]
        return "defaults"

    def located(self, exc: ConfigError, *path: str) -> ConfigError:
        """``exc`` saying which file, variable or flag set the setting it is about."""
        source = self.source(*path)
        if source == "defaults" or source in str(exc):
            return exc
        return type(exc)(f"{exc} (set in {source}: {'.'.join(path)})")

    def backend_config(self, model: type[BaseModel], *path: str) -> Any:
        """A backend's options (``agents.<name>``, ``evaluators.<name>``) validated by its config,
        errors naming the file (or variable, or flag) that set them."""
        section: Any = self
        for part in path:
            section = getattr(section, part) if isinstance(section, BaseModel) else section.get(part, {})
        source = self.source(*path)
        return validate_backend_config(model, section, ".".join(path), source=None if source == "defaults" else source)


def validate_backend_config(model: type[BaseModel], data: dict[str, Any], where: str, *, source: str | None = None) -> Any:
    """Validate a backend's own options (e.g. ``evaluators.local``) with a file-and-field message;
    ``source`` is the file (or variable, or flag) they came from."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join([where, *(str(p) for p in err["loc"])])
            if err["type"] == "extra_forbidden":
                lines.append(f"{field}: unknown key; allowed keys: {', '.join(model.model_fields)}")
            else:
                lines.append(f"{field}: expected: {err['msg']}, got {err.get('input')!r}")
        raise ConfigError("; ".join(lines), file=source) from None


# Loading (file, environment, flags, each setting's source) lives in configload.py; it is
# re-exported here so that the configuration is imported from one place.
from .configload import DEFAULT_CONFIG, load_settings  # noqa: E402

__all__ = ["DEFAULT_CONFIG", "Budgets", "GovernorConfig", "PathsConfig", "PhaseConfig", "RampSection",
           "RayConfig", "RunSection", "Settings", "load_settings", "shipped", "validate_backend_config"]
