"""Subprocesses that never outlive their purpose.

Every command runs in its own process group. On timeout or cancellation (Ctrl-C, a stopped run) the
whole group gets SIGTERM, then SIGKILL, so a test run's grandchildren do not linger after the engine
has moved on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
from anyio.abc import Process
from pydantic import BaseModel


class CommandResult(BaseModel):
    """The outcome of one shell command run in a sandbox."""

    exit_code: int
    output: str
    timed_out: bool = False
    duration_s: float = 0.0


#: Variables handed to code Ramp runs but did not write (agent commands, builds and tests under
#: evaluation): what toolchains need, never credentials such as API keys.
SAFE_ENV_NAMES = (
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR", "TZ", "PYENV_ROOT",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
)
SAFE_ENV_PREFIXES = ("LC_", "PIP_", "UV_")


def safe_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The engine's environment reduced to SAFE_ENV_NAMES and SAFE_ENV_PREFIXES, plus ``extra``."""
    kept = {
        k: v for k, v in os.environ.items() if k in SAFE_ENV_NAMES or k.startswith(SAFE_ENV_PREFIXES)
    }
    return kept | dict(extra or {})


#: Output kept in memory per command; the rest is only in the log file, if one was given.
MAX_CAPTURE = 4 * 1024 * 1024


class OutputTee:
    """A command's output as it arrives: every chunk appended (and flushed) to ``log_file`` when one
    is given, so a killed run still leaves its log, and the first MAX_CAPTURE bytes kept in memory.
    Used by the host runner here and by the container runner (docker/containers.py)."""

    def __init__(self, log_file: Path | None = None):
        self._log = open(log_file, "ab") if log_file else None  # noqa: SIM115 - closed by close()
        self._chunks: list[bytes] = []
        self._captured = 0

    def feed(self, chunk: bytes) -> None:
        if self._log:
            self._log.write(chunk)
            self._log.flush()
        if self._captured < MAX_CAPTURE:
            self._chunks.append(chunk)
            self._captured += len(chunk)

    def close(self) -> None:
        if self._log:
            self._log.close()

    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", errors="replace")


def _kill_group(process: Process, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def run_command(
    command: str | Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    log_file: Path | None = None,
    stdin: bytes | None = None,
    inherit_env: bool = True,
) -> CommandResult:
    """Run a command (a shell string or an argv list), merge stdout and stderr, and return it.

    ``env`` is added to the current environment, or with ``inherit_env=False`` is the whole
    environment (a sandbox's scrubbed one, which must not pick up the engine's credentials). When
    ``log_file`` is given, output is appended to it as it arrives, so a killed run still leaves the
    log behind.
    """
    full_env = {**(os.environ if inherit_env else {}), **(env or {})}
    if isinstance(command, str):
        argv: list[str] = ["/bin/bash", "-c", command]
    else:
        argv = list(command)
    started = time.monotonic()
    timed_out = False
    tee = OutputTee(log_file)
    process = await anyio.open_process(
        argv,
        cwd=str(cwd) if cwd else None,
        env=full_env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        if stdin is not None and process.stdin is not None:
            await process.stdin.send(stdin)
            await process.stdin.aclose()
        assert process.stdout is not None
        with anyio.move_on_after(timeout) as scope:
            async for chunk in process.stdout:
                tee.feed(chunk)
            await process.wait()
        if scope.cancelled_caught:
            timed_out = True
    finally:
        if process.returncode is None:
            _kill_group(process, signal.SIGTERM)
            with anyio.move_on_after(3, shield=True):
                await process.wait()
            if process.returncode is None:
                _kill_group(process, signal.SIGKILL)
                with anyio.move_on_after(3, shield=True):
                    await process.wait()
        else:
            # The leader exited; clear out anything it left running in its group.
            _kill_group(process, signal.SIGKILL)
        with anyio.move_on_after(3, shield=True):
            await process.aclose()  # its pipes, now: not a transport left for the garbage collector
        tee.close()
    code = process.returncode if process.returncode is not None else -9
    return CommandResult(
        exit_code=code, output=tee.text(), timed_out=timed_out, duration_s=time.monotonic() - started
    )


async def git(*args: str, cwd: Path | str | None = None, timeout: float | None = 600) -> CommandResult:
    """Run git with a fixed identity and no prompts."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "ramp",
        "GIT_AUTHOR_EMAIL": "ramp@localhost",
        "GIT_COMMITTER_NAME": "ramp",
        "GIT_COMMITTER_EMAIL": "ramp@localhost",
    }
    return await run_command(["git", *args], cwd=cwd, env=env, timeout=timeout)
