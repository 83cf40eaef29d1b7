"""Credentials and redaction: the file and the environment, key shapes, every exit.

The last test plants one key in the credentials file and another in the environment, makes a fake
provider echo the key it received into error bodies and replies, and scans the store, the artifacts,
the displays, the logs and the error messages for either key: there must be no hit.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from rich.console import Console

from engine.core import secrets
from engine.core.artifacts import RunFolder
from engine.core.errors import AttemptError, ConfigError
from engine.core.events import Alert
from engine.core.secrets import REDACTED, RedactingDisplay, Redactor, Secrets, parse_credentials
from engine.models.base import Message
from engine.run.display import JsonLinesDisplay, PlainDisplay
from tests.fakeservers import Harness, OpenAIServer, ok, openai_entry, status

FILE_KEY = "sk-or-v1-planted-in-the-file-0123456789abcdef"
ENV_KEY = "sk-or-v1-planted-in-the-environment-fedcba9876543210"


def test_credentials_file_format_and_errors_that_never_show_values(tmp_path):
    text = "# keys\n\nOPENROUTER_API_KEY=sk-abc\nexport CHUTES_API_KEY = 'cpk_xyz'\nEMPTY=\n"
    assert parse_credentials(text, "c.txt") == {"OPENROUTER_API_KEY": "sk-abc", "CHUTES_API_KEY": "cpk_xyz", "EMPTY": ""}
    with pytest.raises(ConfigError) as caught:
        parse_credentials("GOOD=1\nthis line has sk-secret-value-123 but no equals sign\n", "c.txt")
    assert str(caught.value) == "c.txt: line 2: expected KEY=VALUE (value not shown)"


def test_environment_wins_and_both_values_are_redacted(tmp_path):
    path = tmp_path / "credentials.txt"
    path.write_text(f"OPENROUTER_API_KEY={FILE_KEY}\nPLAIN_SETTING=not-a-secret-at-all\n")
    creds = Secrets.load(path, {"OPENROUTER_API_KEY": ENV_KEY, "HOME": "/root/home-directory",
                                "MONKEY": "/usr/local/bin", "GITHUB_TOKEN": "ghp_0123456789abcdef"})
    assert creds.get("OPENROUTER_API_KEY") == ENV_KEY
    assert creds.where("OPENROUTER_API_KEY") == "environment variable OPENROUTER_API_KEY"
    assert creds.get("MISSING") is None and "MISSING=... to" in creds.missing_hint("MISSING")
    assert {FILE_KEY, ENV_KEY, "ghp_0123456789abcdef"} <= creds.values()
    assert not {"/root/home-directory", "/usr/local/bin"} & creds.values()
    assert Secrets.load(tmp_path / "absent.txt", {}).get("X") is None


@pytest.mark.parametrize("text", [
    f"key {FILE_KEY} leaked",
    "Authorization: Bearer abcdefghijklmnop.qrstuvwxyz",
    "chutes cpk_0123456789abcdef.0123456789",
    "token hf_abcdefghijklmnopqrstuvwx",
    '{"api_key": "plain-looking-value-123"}',
    "x-api-key=another-plain-value-456",
])
def test_redactor_removes_known_values_and_key_shapes(text):
    redact = Redactor([FILE_KEY])
    out = redact(text)
    assert REDACTED in out
    for secret in (FILE_KEY, "abcdefghijklmnop", "cpk_0123456789", "hf_abcdef", "plain-looking", "another-plain"):
        assert secret not in out
    # A short credential is still a credential (LiteLLM's sk-1234): redacted, but only as a whole word.
    assert Redactor(["short"])("a short word; shortcut") == f"a {REDACTED} word; shortcut"


def test_every_credential_is_redacted_whatever_its_length_and_short_ones_are_named(tmp_path):
    """`sk-1234` (LiteLLM's default key) once reached trajectory.json, patch.diff and predictions."""
    path = tmp_path / "credentials.txt"
    path.write_text("LITELLM_API_KEY=sk-1234\nOPENROUTER_API_KEY=" + FILE_KEY + "\n")
    creds = Secrets.load(path, {"PROXY_TOKEN": "t0k"})
    redact = Redactor.for_secrets(creds)
    assert redact("Authorization: Bearer sk-1234\n") == f"Authorization: Bearer {REDACTED}\n"
    assert redact('{"key": "sk-1234", "n": "sk-12345", "t": "t0k!"}') == (
        f'{{"key": "{REDACTED}", "n": "sk-12345", "t": "{REDACTED}!"}}'
    )
    assert creds.short() == ["LITELLM_API_KEY", "PROXY_TOKEN"]  # names to warn about, never values


def test_structured_records_stay_valid_whatever_the_secret_looks_like():
    """A short secret equal to JSON syntax (true, 1) must not break a stored event or a JSON file."""
    from engine.core.secrets import redact_data, redacted_json

    redact = Redactor(["true", "1"])
    data = {"resolved": True, "attempt": 1, "detail": "true story, attempt 1", "tests": ["1", "a"]}
    assert json.loads(redacted_json(data, redact)) == {
        "resolved": True, "attempt": 1, "detail": f"{REDACTED} story, attempt {REDACTED}", "tests": [REDACTED, "a"],
    }
    clean = {"detail": "nothing here"}
    assert redact_data(clean, redact) is clean


def test_redacting_data_copies_only_what_changed_and_keeps_keys_order_and_nesting():
    from enum import StrEnum

    from engine.core.secrets import redact_data

    class Kind(StrEnum):
        SECRET = "s3cr3t-value-000111"

    redact = Redactor(["s3cr3t-value-000111"])
    inner = {"ok": [1, 2.5, None, False]}
    data = {"a": "fine", "b": inner, "s3cr3t-value-000111": "key", "c": ["x", ("y", "s3cr3t-value-000111")],
            "d": Kind.SECRET, "e": 7}
    out = redact_data(data, redact)
    assert out == {"a": "fine", "b": inner, REDACTED: "key", "c": ["x", ["y", REDACTED]], "d": REDACTED, "e": 7}
    assert list(out) == ["a", "b", REDACTED, "c", "d", "e"]  # the order of the keys is kept
    assert out["b"] is inner and data["c"][1][1] == "s3cr3t-value-000111"  # the clean part is shared; data is untouched
    listed = ["x", {"y": 1}, ("z",)]
    assert redact_data(listed, redact) is listed and redact_data(("z",), redact) == ("z",)


def test_short_fixtures_in_code_survive_so_patches_stay_intact():
    code = 'headers = {"Authorization": f"Bearer {token}"}\nassert auth == "Bearer abc123"\napi_key="test"\n'
    assert Redactor()(code) == code


def test_displays_are_wrapped_so_json_and_plain_lines_are_redacted():
    redact = Redactor([ENV_KEY])
    json_out, plain_out = io.StringIO(), io.StringIO()
    for display in (RedactingDisplay(JsonLinesDisplay(json_out), redact),
                    RedactingDisplay(PlainDisplay(Console(file=plain_out, width=200)), redact)):
        display.show(Alert(run_id="r", message=f"provider said: invalid key {ENV_KEY}"))
    assert ENV_KEY not in json_out.getvalue() and ENV_KEY not in plain_out.getvalue()
    assert json.loads(json_out.getvalue())["message"] == f"provider said: invalid key {REDACTED}"
    assert REDACTED in plain_out.getvalue()


def test_installed_redactor_cleans_every_log_record_and_quiets_httpx(caplog):
    previous = secrets.current()
    try:
        secrets.install(Redactor([ENV_KEY]))
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("ramp.test").warning("calling with %s", ENV_KEY)
            logging.getLogger("httpx").info("HTTP Request: POST with Authorization: Bearer %s", ENV_KEY)
        assert ENV_KEY not in caplog.text and "calling with [REDACTED]" in caplog.text
        assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
        assert secrets.current()(ENV_KEY) == REDACTED
    finally:
        secrets.install(previous)


async def test_planted_keys_never_reach_the_store_artifacts_displays_logs_or_errors(tmp_path, caplog):
    shown = io.StringIO()
    previous = secrets.current()
    with OpenAIServer() as server:
        server.script(
            status(401, '{"error": {"message": "invalid key: {authorization}"}}'),
            status(500, "upstream got {authorization} and failed"),
            ok("you sent {authorization}"),
        )
        entry = openai_entry(server, api_key_env="OPENROUTER_API_KEY")
        async with Harness(tmp_path, {"m": entry}, credentials=f"OPENROUTER_API_KEY={FILE_KEY}\n",
                           environ={"OPENROUTER_API_KEY": ENV_KEY}) as h:
            secrets.install(h.redact)
            display = RedactingDisplay(JsonLinesDisplay(shown), h.redact)
            folder = RunFolder(tmp_path / "runs", h.RUN, redact=h.redact)
            model = h.models.get("m")
            errors = []
            with caplog.at_level(logging.DEBUG):
                try:
                    await model.complete([Message(role="user", content="hi")], context=h.CTX)
                except AttemptError as exc:
                    errors.append(str(exc))
                    logging.getLogger("ramp.test").error("call failed: %s", exc)
                done = await model.complete([Message(role="user", content="again")], context=h.CTX)
            folder.write_json("inst-1", 1, "trajectory.json", {"reply": done.text, "errors": errors})
            folder.write_patch("inst-1", 1, f"+ key = '{done.text}'\n")
            await h.store.update_attempt(h.RUN, "inst-1", 1, detail=errors[0])
            for event in h.events:
                display.show(event)
        secrets.install(previous)
    assert server.requests[0].headers["authorization"] == f"Bearer {ENV_KEY}"  # the env key was used
    assert errors and "invalid key" in errors[0]
    assert ENV_KEY in done.text  # the model's reply is not an exit: the agent sees it, no file does
    haystacks = {"display": shown.getvalue(), "logs": caplog.text, "errors": " ".join(errors)}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "credentials.txt":
            haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert any(name.endswith("ramp.sqlite") for name in haystacks)
    hits = [name for name, text in haystacks.items() for key in (FILE_KEY, ENV_KEY) if key in text]
    assert hits == []


def test_remembered_redactions_are_forgotten_when_a_secret_is_learned():
    redact = Redactor()
    text = "token tok-0123456789abcdef"
    assert redact(text) == text  # remembered as clean
    redact.add("tok-0123456789abcdef")
    assert redact(text) == f"token {REDACTED}"


def test_an_attempts_files_are_redacted_after_backends_wrote_there_and_its_own_are_not_read_again(
    tmp_path, monkeypatch
):
    from pathlib import Path

    from engine.core.artifacts import atomic_write

    key = "tok-0123456789abcdef0123"
    folder = RunFolder(tmp_path / "runs", "r", redact=Redactor([key]))
    patch_path, _, _ = folder.write_patch("i-1", 1, f"+ key = '{key}'\n")
    eval_path = folder.write_json("i-1", 1, "eval.json", {"detail": f"saw {key}"}, native=True)
    log = folder.attempt_dir("i-1", 1) / "logs" / "test_output.txt"
    log.parent.mkdir()
    log.write_text(f"a backend printed {key}\n")  # written without knowing the secret
    atomic_write(eval_path, json.dumps({"detail": f"rewritten by a backend: {key}"}), sync=False)
    reads: list[str] = []
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self.name) or real(self, *a, **k))
    folder.redact_attempt("i-1", 1)
    assert sorted(reads) == ["eval.json", "test_output.txt"]  # patch.diff is as it was written: redacted
    assert all(key not in p.read_text() for p in (log, patch_path, eval_path))
