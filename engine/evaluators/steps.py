"""Which of a spec's shell steps run on this host, and how.

Specs were written for a disposable container: their ``pre_install`` and ``eval_commands`` may
``apt-get install``, run ``locale-gen``, write to /etc, download into /testbed. On a shared host
those would need root, the network, or would change the machine for everyone, so they are skipped
and recorded (preflight and ``env.json`` list them); steps that use a variable set by a skipped step
are skipped with it. The remaining steps are repo-local edits (``sed`` on setup.py or tox.ini) that
the official harness bakes into its image, so they run in the environment's checkout and again in
each worktree, in one shell with ``set -e`` as the harness's setup script runs them.
"""

from __future__ import annotations

import re

_SYSTEM_STEP = re.compile(
    r"\b(apt-get|apt|yum|dnf|apk|locale-gen|update-locale|dpkg-reconfigure|wget|curl|sudo)\b"
    r"|/etc/|/testbed\b|https?://"
)


def is_system_step(command: str, skipped_vars: set[str]) -> bool:
    """True for a step that needs root or the network, or uses a variable such a step set."""
    if _SYSTEM_STEP.search(command):
        return True
    return any(re.search(rf"\${{?{re.escape(v)}\b", command) for v in skipped_vars)


def split_steps(commands: list[str]) -> tuple[list[str], list[str]]:
    """(steps to run, steps skipped because they would change the host)."""
    run: list[str] = []
    skipped: list[str] = []
    skipped_vars: set[str] = set()
    for command in commands:
        if is_system_step(command, skipped_vars):
            skipped.append(command)
            assignment = re.match(r"^\s*([A-Za-z_]\w*)=", command)
            if assignment:
                skipped_vars.add(assignment.group(1))
        else:
            run.append(command)
    return run, skipped


def steps_script(commands: list[str]) -> str:
    """Run steps in one shell, as the harness's setup script does, so variables carry over."""
    return "\n".join(["set -euo pipefail", *commands])


def pip_install_target(install: str) -> tuple[str, bool] | None:
    """The local target of a ``pip install`` (``.``, ``.[dev]``) and whether it skips build isolation."""
    match = re.search(r"\bpip\s+install\s+(.*)", install)
    if not match:
        return None
    command = match.group(1).split(";")[0].split("&&")[0]
    tokens = [t.strip("'\"") for t in re.findall(r"""'[^']*'|"[^"]*"|\S+""", command)]
    for token in tokens:
        if token == "." or token.startswith((".[", "./")):
            return token, "--no-build-isolation" in tokens
    return None
