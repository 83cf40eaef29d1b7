"""Building a run's models from the catalog, and checking them before the run starts.

:class:`RunModels` is the one place a run gets models from: ``models.get("qwen3-coder-openrouter")``
returns an :class:`AccountedModel` whose requests share their account's limiter and breaker with every
other model of that account, and whose spend counts against the one run budget.

:func:`model_checks` is the models' part of the preflight: the tokenizer in use, each model's
credentials (a missing key names its variable and the secrets file), its price (a warning when it
has none), and whether its endpoint answers (``GET {base_url}/models``, or Ollama's ``/api/tags``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.checks import Check
from ..core.config import Settings, validate_backend_config
from ..core.errors import ConfigError
from ..core.secrets import Redactor, Secrets
from ..store import Store
from . import PROVIDERS
from .accounting import AccountedModel, Emit, Ledger
from .base import Model
from .cache import FILE_NAME as CACHE_FILE
from .cache import ResponseCache
from .catalog import Catalog, ModelEntry, load_catalog
from .limits import AccountLimits
from .tokens import tokenizer_description, tokenizer_is_heuristic


def provider_config(entry: ModelEntry, catalog_path: str) -> Any:
    """The entry's ``options:`` validated by its provider's config; a ConfigError names the file."""
    cls = PROVIDERS.get(entry.provider)
    try:
        return validate_backend_config(cls.Config, entry.options, f"models.{entry.id}.options")
    except ConfigError as exc:
        raise ConfigError(str(exc), file=catalog_path) from None


def build_provider(entry: ModelEntry, secrets: Secrets, catalog_path: str = "config/models.yaml") -> Any:
    """The bare provider for an entry: one request per call, no retries, no accounting."""
    cls = PROVIDERS.get(entry.provider)
    config = provider_config(entry, catalog_path)
    api_key = secrets.get(entry.api_key_env) if entry.api_key_env else None
    if entry.api_key_env and not api_key:
        raise ConfigError(
            f"model {entry.id} needs a key: {secrets.missing_hint(entry.api_key_env)}",
            field=f"models.{entry.id}.api_key_env",
        )
    return cls(entry, config, api_key=api_key)


class RunModels:
    """The models of one run, with shared per-account limits and one ledger (budget, quotas, records)."""

    def __init__(
        self,
        catalog: Catalog,
        secrets: Secrets,
        *,
        store: Store,
        run_id: str | None = None,
        budget_usd: float | None = None,
        emit: Emit | None = None,
        redact: Redactor | None = None,
        cache: ResponseCache | None = None,
    ):
        self.catalog = catalog
        self.secrets = secrets
        self.redact = redact or Redactor(secrets.values())
        self.ledger = Ledger(store, run_id=run_id, budget_usd=budget_usd, emit=emit, redact=self.redact)
        self.cache = cache
        self._limits: dict[str, AccountLimits] = {}
        self._models: dict[str, AccountedModel] = {}

    def limits_for(self, entry: ModelEntry) -> AccountLimits:
        if entry.account_name not in self._limits:
            self._limits[entry.account_name] = AccountLimits(entry)
        return self._limits[entry.account_name]

    def get(self, model_id: str) -> AccountedModel:
        """The accounted model for a catalog id, built once per run."""
        if model_id not in self._models:
            entry = self.catalog.get(model_id)
            if entry.api_key_env and self.secrets.get(entry.api_key_env):
                self.redact.add(self.secrets.get(entry.api_key_env) or "")
            self._models[model_id] = self.wrap(build_provider(entry, self.secrets, str(self.catalog.path)))
        return self._models[model_id]

    def wrap(self, model: Model) -> AccountedModel:
        """Account for a provider built elsewhere (a test's or the demo's ScriptedModel.of(...))."""
        if isinstance(model, AccountedModel):
            return model
        entry: ModelEntry = model.entry  # type: ignore[attr-defined]
        return AccountedModel(model, entry, self.limits_for(entry), self.ledger, self.cache)

    @property
    def budget_stopped(self) -> bool:
        """True once a call was refused for the run budget or a daily quota."""
        return self.ledger.budget_stopped

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()
        if self.cache is not None:
            self.cache.close()


async def model_checks(entries: list[ModelEntry], secrets: Secrets, catalog_path: str) -> list[Check]:
    """Preflight for the models a run will use. Warnings are checks with ``warning=True``."""
    checks = [Check("tokenizer", True, tokenizer_description(), warning=tokenizer_is_heuristic())]
    for entry in entries:
        name = f"model {entry.id}"
        if entry.api_key_env:
            where = secrets.where(entry.api_key_env)
            if where is None:
                checks.append(Check(
                    f"{name} credentials", False, f"{entry.api_key_env} is not set",
                    f"add {entry.api_key_env}=... to {secrets.path} (see secrets/credentials.example) or export it",
                ))
                continue
            checks.append(Check(f"{name} credentials", True, f"{entry.api_key_env} from {where}"))
        if not entry.priced:
            checks.append(Check(
                f"{name} price", True,
                f"no price in {catalog_path}: cost is recorded as unknown (None), never $0; a run budget refuses it",
                warning=True,
            ))
        try:
            provider = build_provider(entry, secrets, catalog_path)
        except ConfigError as exc:
            checks.append(Check(f"{name} config", False, str(exc)))
            continue
        try:
            problems = await provider.preflight()
        finally:
            await provider.aclose()
        where = entry.base_url or entry.provider
        checks.append(Check(
            f"{name} reachability", not problems, "; ".join(problems) or f"{where} answers",
            "start the server or fix base_url in " + catalog_path if problems else "",
        ))
    return checks


@dataclass
class PreparedModel:
    """What :func:`prepare_model` hands the runner."""

    model: Any = None
    checks: list[Check] = field(default_factory=list)


async def prepare_model(
    settings: Settings,
    *,
    needs_model: bool,
    given: Any,
    store: Store,
    run_id: str,
    secrets: Secrets,
    redact: Redactor,
    emit: Emit,
) -> PreparedModel:
    """The model a run's agent gets, accounted, and the preflight checks for it.

    A model passed in (the demo's, a test's) is wrapped in the accounting when it is one of Ramp's
    providers; otherwise ``run.model`` is looked up in the catalog. Agents that need no model (gold,
    empty) get none, whatever ``run.model`` says.
    """
    if not needs_model:
        return PreparedModel(given)
    model_id = settings.run.model
    if given is None and not model_id:
        raise ConfigError(
            f"agent {settings.run.agent} needs a model: pass --model ID (ids are the keys of "
            f"{settings.paths.models_file})", field="run.model",
        )
    catalog = load_catalog(settings.paths.models_file) if given is None else Catalog(settings.paths.models_file, {})
    cache = None
    if settings.run.cache != "off":
        cache = ResponseCache(settings.paths.runs_dir / CACHE_FILE, settings.run.cache, redact=redact)
    models = RunModels(
        catalog, secrets, store=store, run_id=run_id, budget_usd=settings.run.budget_usd, emit=emit, redact=redact,
        cache=cache,
    )
    if given is not None:
        return PreparedModel(models.wrap(given) if hasattr(given, "entry") else given)
    entry = catalog.get(model_id or "")
    provider_config(entry, str(catalog.path))  # a wrong option is a config error (exit 2), not preflight
    checks = await model_checks([entry], secrets, str(catalog.path))
    if any(not c.ok for c in checks):
        return PreparedModel(None, checks)
    return PreparedModel(models.get(entry.id), checks)


async def doctor_checks(settings: Settings) -> list[Check]:
    """``ramp doctor``'s model lines: the catalog parses, the tokenizer, and run.model if one is set."""
    catalog = load_catalog(settings.paths.models_file)
    if not settings.run.model:
        return [
            Check("model catalog", True, f"{len(catalog.models)} models in {catalog.path} (pass --model ID to check one)"),
            Check("tokenizer", True, tokenizer_description(), warning=tokenizer_is_heuristic()),
        ]
    secrets = Secrets.load(settings.paths.secrets_file)
    return await model_checks([catalog.get(settings.run.model)], secrets, str(catalog.path))
