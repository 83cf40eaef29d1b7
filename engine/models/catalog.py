"""The model catalog, config/models.yaml: which models exist, how to reach them, what they cost.

Each entry names its provider (the protocol: openai-compatible, ollama or scripted), the provider's
own name for the model, where it lives and which environment variable holds its key, its prices per
million tokens, its context window, and the limits Ramp must respect: concurrency, requests per minute
and a daily call quota. Limits belong to an *account* (OpenRouter, Chutes, one Ollama host): models of
the same account share one concurrency limiter and one daily quota, so they must agree on them.

Cost is computed per call from these prices unless the provider reports what it charged. A ``local``
model costs exactly 0. A model with no price is not free: its cost is None, flagged in preflight and
by an alert, and a run budget refuses to spend on it.

Every validation error names the file, the model id and the field.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core.errors import ConfigError
from ..core.yamlfile import read_yaml
from . import PROVIDERS
from .base import Usage

DEFAULT_CATALOG = Path("config/models.yaml")
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Prices(_Strict):
    """USD per million tokens."""

    input: float = Field(ge=0, description="USD per million input (prompt) tokens.")
    output: float = Field(ge=0, description="USD per million output (completion) tokens.")
    cached_input: float | None = Field(
        default=None, ge=0, description="USD per million input tokens served from the provider's "
        "prompt cache. Default: the input price.",
    )


class RetryPolicy(_Strict):
    """How one model call survives a flaky provider."""

    max_retries: int = Field(
        default=4, ge=0, description="Further requests after a 429, a 5xx, a timeout or a dropped "
        "connection, before the call fails with that error class.",
    )
    backoff_s: float = Field(default=1.0, ge=0, description="First retry delay; doubles each retry, with jitter.")
    backoff_max_s: float = Field(default=30.0, ge=0, description="Longest delay between two retries.")
    max_retry_after_s: float = Field(
        default=120.0, ge=0, description="Longest Retry-After Ramp waits out; a longer one fails the "
        "call at once as rate_limit.",
    )
    failure_cap: int = Field(
        default=8, ge=1, description="Consecutive failed requests to one account after which it fails "
        "fast (infra) instead of being called again.",
    )
    cooldown_s: float = Field(
        default=60.0, ge=0, description="After the failure cap trips, one probe request is let through "
        "after this long; a success closes the breaker.",
    )


class Timeouts(_Strict):
    connect_s: float = Field(default=10.0, gt=0, description="Seconds to open a connection.")
    read_s: float = Field(
        default=120.0, gt=0, description="Longest silence while waiting for the next bytes of a reply.",
    )
    total_s: float = Field(default=600.0, gt=0, description="Longest a single request may take, end to end.")


class ModelEntry(_Strict):
    """One model in config/models.yaml (the mapping key is its id)."""

    id: str = Field(default="", description="The id used with --model; the key of the entry.")
    provider: str = Field(description="Protocol: openai-compatible, ollama or scripted.")
    name: str = Field(default="", description="The provider's own model name, sent with each request.")
    base_url: str | None = Field(
        default=None, description="API root, e.g. https://openrouter.ai/api/v1 or http://127.0.0.1:11434.",
    )
    api_key_env: str | None = Field(
        default=None, description="Environment variable (or secrets/credentials.txt key) holding the key. "
        "Keys never go in this file.",
    )
    account: str | None = Field(
        default=None, description="Whose limits and daily quota this model shares. Default: the base "
        "URL's host (scripted: 'scripted').",
    )
    local: bool = Field(
        default=False, description="Runs on hardware you own: every call costs exactly 0 and no price is needed.",
    )
    price: Prices | None = Field(
        default=None, description="USD per million tokens. Missing on a non-local model: cost is unknown "
        "(None), flagged, never $0.",
    )
    context_window: int | None = Field(default=None, ge=1, description="Input plus output tokens the model accepts.")
    max_output_tokens: int | None = Field(
        default=None, ge=1, description="Output cap sent as max_tokens on every request (the agent's own "
        "max_tokens when that is smaller), and so the output side of a call's worst-case cost against the "
        "run budget.",
    )
    concurrency: int = Field(default=4, ge=1, description="Requests in flight at once (halved on 429, then regrown).")
    requests_per_minute: float | None = Field(default=None, gt=0, description="Pacing of request starts.")
    daily_call_quota: int | None = Field(
        default=None, ge=0, description="Requests per UTC day for the account, counted in the store so "
        "restarts do not reset it.",
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Retries, backoff and failure cap.")
    timeouts: Timeouts = Field(default_factory=Timeouts, description="Connect, read and total timeouts.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="The provider's own settings, validated by its Config.",
    )

    @model_validator(mode="after")
    def _complete(self) -> ModelEntry:
        if self.provider not in PROVIDERS.names():
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS.names())}, got {self.provider!r}")
        if self.provider == "openai-compatible" and not self.base_url:
            raise ValueError("base_url is required for an openai-compatible model")
        if self.provider == "scripted":
            self.local = True
        if not self.name:
            self.name = self.id
        return self

    @property
    def account_name(self) -> str:
        if self.account:
            return self.account
        if self.provider == "scripted" or not self.base_url:
            return self.provider
        return urlsplit(self.base_url).netloc or self.base_url

    @property
    def priced(self) -> bool:
        return self.local or self.price is not None

    def cost(self, usage: Usage) -> float | None:
        """USD for one call's usage: 0 for a local model, None when the model has no price."""
        if self.local:
            return 0.0
        if self.price is None:
            return None
        cached = min(usage.cached_tokens, usage.input_tokens)
        cached_price = self.price.cached_input if self.price.cached_input is not None else self.price.input
        return (
            (usage.input_tokens - cached) * self.price.input
            + cached * cached_price
            + usage.output_tokens * self.price.output
        ) / 1e6

    def worst_case_cost(self, input_tokens: int, max_tokens: int | None) -> float | None:
        """The most one call could cost: every prompt token uncached, every output token used."""
        if self.local:
            return 0.0
        if self.price is None:
            return None
        output = max_tokens or self.max_output_tokens or max((self.context_window or 0) - input_tokens, 0)
        return (input_tokens * self.price.input + output * self.price.output) / 1e6


class Catalog:
    """The parsed catalog. ``get`` names the file and the known ids when an id is wrong."""

    def __init__(self, path: Path, models: dict[str, ModelEntry]):
        self.path = Path(path)
        self.models = models

    def get(self, model_id: str) -> ModelEntry:
        try:
            return self.models[model_id]
        except KeyError:
            close = difflib.get_close_matches(model_id, list(self.models), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown model {model_id!r}{hint}; models in this catalog: {', '.join(sorted(self.models))}",
                file=str(self.path), field="--model",
            ) from None


def _errors(path: Path, model_id: str, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        where = f"{path}: models.{model_id}" + (f".{field}" if field else "")
        if err["type"] == "extra_forbidden":
            hint = (
                f"; keys never go in {path}: name the variable in api_key_env and put the key in "
                "secrets/credentials.txt" if "key" in field.lower() and "env" not in field.lower() else ""
            )
            lines.append(f"{where}: unknown key{hint}")
        else:
            message = err["msg"].removeprefix("Value error, ")
            given = "" if isinstance(err.get("input"), dict) else f", got {err.get('input')!r}"
            lines.append(f"{where}: {message}{given}")
    return lines


def parse_catalog(data: Any, path: Path) -> Catalog:
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ConfigError("expected a top-level 'models:' mapping of model id to entry", file=str(path))
    unknown = sorted(set(data) - {"models", "accounts"})
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {', '.join(unknown)}; expected models (and accounts, a place for YAML anchors)", file=str(path))
    models: dict[str, ModelEntry] = {}
    problems: list[str] = []
    for model_id, raw in data["models"].items():
        if not isinstance(raw, dict):
            problems.append(f"{path}: models.{model_id}: expected a mapping of fields, got {raw!r}")
            continue
        try:
            models[str(model_id)] = ModelEntry.model_validate({**raw, "id": str(model_id)})
        except ValidationError as exc:
            problems += _errors(path, str(model_id), exc)
    problems += _account_conflicts(path, models)
    if problems:
        raise ConfigError("\n  ".join(problems))
    return Catalog(path, models)


def _account_conflicts(path: Path, models: dict[str, ModelEntry]) -> list[str]:
    """Models of one account share its limiter and quota, so they must state the same limits."""
    first: dict[str, ModelEntry] = {}
    problems = []
    for entry in models.values():
        other = first.setdefault(entry.account_name, entry)
        for field in ("concurrency", "requests_per_minute", "daily_call_quota"):
            if getattr(entry, field) != getattr(other, field):
                problems.append(
                    f"{path}: models.{entry.id}.{field}: {getattr(entry, field)!r} differs from "
                    f"{getattr(other, field)!r} in models.{other.id}; both belong to account "
                    f"{entry.account_name!r}, whose limits are shared (use a YAML anchor)"
                )
    return problems


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    path = Path(path)
    data = read_yaml(path, missing="model catalog not found: set paths.models_file or restore config/models.yaml")
    return parse_catalog(data, path)
