"""The LLM response cache: reruns, retries and A/B replays never pay for the same call twice.

``run.cache`` is ``off`` (the default), ``read`` (answer from the cache when it has the reply,
call the provider otherwise) or ``readwrite`` (also keep every new successful reply). Replies are
kept in ``<runs_dir>/llm-cache.sqlite``, next to the store, keyed by a SHA-256 of everything that
changes a reply: the model (provider, its model name, base URL, options and output cap), the
messages and every sampling parameter. Nothing about the caller (run, instance) is in the key, but
a sampled call (temperature above 0, or the provider's default) also keys on its attempt number: K
samples of one problem (pass@k) are K different replies, each replayed as itself in a rerun, where a
temperature-0 call is shared by every attempt. A failed call is never kept. Keys are hashes and replies are stored redacted, so the file
holds no credential.

A hit is still a model call of the run: an ``llm_calls`` row with ``cache_hit`` set, cost 0, the
reply's original cost in ``saved_usd`` and its original latency apart from the replay's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio

from ..store.responses import ResponseFile
from .base import Completion, Message, Sampling, Usage
from .catalog import ModelEntry

CacheMode = Literal["off", "read", "readwrite"]
FILE_NAME = "llm-cache.sqlite"


def cache_key(entry: ModelEntry, messages: list[Message], sampling: Sampling, sample: int | None = None) -> str:
    """The hash of everything that changes a reply (never a credential); ``sample`` (the attempt) only
    when the reply is sampled, so each of K samples is its own entry."""
    model = {
        "provider": entry.provider, "name": entry.name or entry.id, "base_url": entry.base_url,
        "options": entry.options, "max_output_tokens": entry.max_output_tokens,
    }  # fmt: skip
    body: dict[str, object] = {
        "model": model,
        "messages": [m.model_dump(mode="json") for m in messages],
        "sampling": {k: v for k, v in sorted(sampling.items()) if v is not None},
    }
    if sample is not None and sampling.get("temperature") != 0:
        body["sample"] = sample
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Hit:
    """A kept reply, as the provider gave it the first time."""

    completion: Completion

    @property
    def saved_usd(self) -> float | None:
        return self.completion.cost_usd


class ResponseCache:
    """The cache of a run's models; its file is safe to share between processes (engine.store.responses)."""

    def __init__(self, path: Path, mode: CacheMode, redact: Callable[[str], str] | None = None):
        self.file = ResponseFile(path)
        self.mode = mode
        self._redact = redact or (lambda text: text)

    @property
    def reads(self) -> bool:
        return self.mode in ("read", "readwrite")

    @property
    def writes(self) -> bool:
        return self.mode == "readwrite"

    async def get(self, key: str, entry: ModelEntry) -> Hit | None:
        """The kept reply for the request ``key`` (:func:`cache_key`) names, or None (also when
        the mode does not read)."""
        if not self.reads:
            return None
        row = await anyio.to_thread.run_sync(self.file.get, key)
        if row is None:
            return None
        return Hit(Completion(
            text=row["text"], usage=Usage.model_validate_json(row["usage_json"]), cost_usd=row["cost_usd"],
            latency_s=row["latency_s"], ttft_s=row["ttft_s"], model_id=row["model_id"] or entry.id,
            provider=entry.account_name, finish_reason=row["finish_reason"],
        ))  # fmt: skip

    async def put(self, key: str, completion: Completion) -> None:
        """Keep a successful reply to the request ``key`` names (when the mode writes)."""
        if not self.writes:
            return
        record = {
            "model_id": completion.model_id, "text": self._redact(completion.text),
            "usage_json": completion.usage.model_dump_json(), "cost_usd": completion.cost_usd,
            "latency_s": completion.latency_s, "ttft_s": completion.ttft_s, "finish_reason": completion.finish_reason,
        }  # fmt: skip
        await anyio.to_thread.run_sync(self.file.put, key, record)

    def close(self) -> None:
        self.file.close()
