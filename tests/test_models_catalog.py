"""The model catalog: the shipped entries, cost per call, and errors that name file, model and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.errors import ConfigError
from engine.core.secrets import Secrets
from engine.models.base import Usage
from engine.models.catalog import ModelEntry, load_catalog, parse_catalog
from engine.models.factory import build_provider

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_catalog_has_the_planned_models():
    catalog = load_catalog(ROOT / "config/models.yaml")
    models = catalog.models
    ollama = models["llama3.1-8b-ollama"]
    assert (ollama.provider, ollama.name, ollama.local) == ("ollama", "llama3.1:8b", True)
    assert models["llamacpp-local"].local and models["scripted-demo"].provider == "scripted"
    for family in ("qwen3-coder", "kimi-k2"):
        for host, env in (("openrouter", "OPENROUTER_API_KEY"), ("chutes", "CHUTES_API_KEY")):
            entry = models[f"{family}-{host}"]
            assert entry.provider == "openai-compatible" and entry.api_key_env == env
            assert entry.price is not None and entry.context_window and entry.account_name == host
    assert {"glm-4.6-openrouter", "glm-4.5-chutes"} <= set(models)
    assert models["qwen3-coder-chutes"].daily_call_quota == 2000


def test_cost_per_call_local_exactly_zero_and_unpriced_unknown():
    priced = ModelEntry(id="p", provider="openai-compatible", base_url="http://x/v1",
                        price={"input": 2.0, "output": 8.0, "cached_input": 0.5})
    usage = Usage(input_tokens=1000, output_tokens=100, cached_tokens=400)
    assert priced.cost(usage) == pytest.approx((600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6)
    assert priced.worst_case_cost(1000, 500) == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    local = ModelEntry(id="l", provider="ollama", local=True)
    assert local.cost(usage) == 0.0 and local.worst_case_cost(10**6, 10**6) == 0.0
    unpriced = ModelEntry(id="u", provider="openai-compatible", base_url="http://x/v1")
    assert unpriced.cost(usage) is None and not unpriced.priced
    assert ModelEntry(id="s", provider="scripted").cost(usage) == 0.0


@pytest.mark.parametrize(("entry", "expected"), [
    ({"provider": "openai-compatible"}, "models.bad: base_url is required"),
    ({"provider": "grpc"}, "models.bad: provider must be one of"),
    ({"provider": "ollama", "price": {"input": -1, "output": 1}}, "models.bad.price.input: Input should be greater"),
    ({"provider": "ollama", "concurency": 2}, "models.bad.concurency: unknown key"),
    ({"provider": "ollama", "api_key": "sk-x"}, "keys never go in"),
    ({"provider": "ollama", "retry": {"max_retries": "many"}}, "models.bad.retry.max_retries"),
])
def test_errors_name_the_file_the_model_and_the_field(entry, expected):
    with pytest.raises(ConfigError) as caught:
        parse_catalog({"models": {"bad": entry}}, Path("config/models.yaml"))
    message = str(caught.value)
    assert message.startswith("config/models.yaml: models.bad") and expected in message


def test_models_of_one_account_must_share_limits():
    data = {"models": {
        "a": {"provider": "openai-compatible", "base_url": "https://openrouter.ai/api/v1", "concurrency": 8},
        "b": {"provider": "openai-compatible", "base_url": "https://openrouter.ai/api/v1", "concurrency": 2},
    }}
    with pytest.raises(ConfigError, match=r"models\.b\.concurrency: 2 differs from 8 in models\.a"):
        parse_catalog(data, Path("m.yaml"))


def test_unknown_model_id_suggests_the_closest(tmp_path):
    catalog = load_catalog(ROOT / "config/models.yaml")
    with pytest.raises(ConfigError, match="did you mean 'qwen3-coder-openrouter'"):
        catalog.get("qwen3-coder-openroutr")


def test_bad_yaml_and_missing_file_name_the_file(tmp_path):
    bad = tmp_path / "models.yaml"
    bad.write_text("models:\n  x: [unclosed\n")
    with pytest.raises(ConfigError, match=r"models.yaml: not valid YAML at line"):
        load_catalog(bad)
    with pytest.raises(ConfigError, match="model catalog not found"):
        load_catalog(tmp_path / "nope.yaml")


def test_provider_options_are_validated_by_the_provider_with_file_model_and_field(tmp_path):
    catalog = parse_catalog({"models": {"m": {"provider": "ollama", "options": {"num_ctxx": 4096}}}},
                            Path("config/models.yaml"))
    with pytest.raises(ConfigError, match=r"^config/models.yaml: models\.m\.options\.num_ctxx: unknown key"):
        build_provider(catalog.get("m"), Secrets({}, {}, tmp_path / "c.txt"), "config/models.yaml")
