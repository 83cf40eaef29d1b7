"""Checking and applying patches the way the official harness does, but refusing escapes first.

The official harness applies a prediction with three commands in turn (swebench's
``run_evaluation.GIT_APPLY_CMDS``): ``git apply --verbose``, ``git apply --verbose --reject`` and
``patch --batch --fuzz=5 -p1 -i``. Ramp keeps those fallbacks so a patch applies here exactly when it
would apply there, with one difference: the tree is reset between tries, so a half-applied
``--reject`` attempt does not poison the ``patch`` fallback.

Inside a container a hostile patch can only damage the container. On the host it could write
anywhere, so every path a patch names is checked *before* anything is applied: absolute paths,
``..`` components, anything under ``.git/`` and symlinks pointing out of the tree are refused.
:func:`check_patch_paths` reads only the text, so the docker evaluator reuses it as is;
:func:`check_patch_targets` adds the checks that need the checked-out tree (a path that walks
through an existing symlink).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from swebench.harness.run_evaluation import GIT_APPLY_CMDS

from ..core.proc import CommandResult, run_command
from ..datasets.patches import check_patch_paths, patch_paths

#: Runs one shell command in the tree being patched.
Shell = Callable[[str], Awaitable[CommandResult]]

__all__ = ["ApplyOutcome", "apply_patch", "check_patch_paths", "check_patch_targets", "patch_paths"]


def check_patch_targets(patch: str, root: Path) -> list[str]:
    """Violations that need the tree: a patched path that passes through a symlink in ``root``."""
    problems: list[str] = []
    root = root.resolve()
    for path in patch_paths(patch):
        current = root
        for part in PurePosixPath(path).parts[:-1]:
            current = current / part
            if current.is_symlink():
                target = current.resolve()
                if not target.is_relative_to(root):
                    problems.append(
                        f"{path!r} goes through the symlink {part!r} out of the repository"
                    )
                break
    return problems


@dataclass
class ApplyOutcome:
    """What happened when a patch was applied: which command took it, and everything they printed."""

    applied: bool
    command: str
    output: str


async def apply_patch(
    worktree: Path | str, patch_file: Path | str, shell: Shell | None = None
) -> ApplyOutcome:
    """Apply ``patch_file`` with the official fallbacks, resetting the tree between tries.

    The tree must be clean (committed) before the call: a failed try is undone with
    ``git reset --hard`` and ``git clean``, which would also drop uncommitted work. ``shell`` runs
    each command in the tree; by default on the host, the docker evaluator passes one that runs
    them in the container (where ``worktree`` and ``patch_file`` are the container's paths).
    """

    async def on_host(command: str) -> CommandResult:
        return await run_command(command, cwd=worktree, timeout=300)

    run = shell or on_host
    transcript: list[str] = []
    for command in GIT_APPLY_CMDS:
        result = await run(f"{command} {_shell_quote(str(patch_file))}")
        transcript.append(f"$ {command}\n{result.output}")
        if result.exit_code == 0:
            return ApplyOutcome(True, command, "\n".join(transcript))
        await run("git reset --hard --quiet; git clean -fdq")
    return ApplyOutcome(False, "", "\n".join(transcript))


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
