"""Models: the interface (base), the catalog, three providers, and the accounting every call goes through.

Providers are named in a lazy registry, so a run with the gold agent never imports httpx or ollama.
Runs get their model from :class:`engine.models.factory.RunModels`; see README "Models and providers".
"""

from ..core.registry import Registry
from .base import CallContext, Completion, Message, Model, ProviderError, Usage

PROVIDERS = Registry(
    "model provider",
    {
        "openai-compatible": "engine.models.openai_compat:OpenAICompatModel",
        "ollama": "engine.models.ollama_chat:OllamaModel",
        "scripted": "engine.models.scripted:ScriptedModel",
    },
)

__all__ = ["PROVIDERS", "CallContext", "Completion", "Message", "Model", "ProviderError", "Usage"]
