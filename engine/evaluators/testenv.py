"""What a test run in a built environment needs beyond the venv: pinned variables, the test
program resolved inside the environment, and the files the install generated.

The harness runs the tests in the checkout it installed, with the environment's tools first on
PATH. Ramp tests a fresh worktree with the shared venv (envs.py), so three things are made explicit
here: the time zone, locale and hash seed are pinned as in the official images; the test command's
program must be the venv's own (else a host's pytest would run and the row would be scored as a
failure); and files the install generated inside the package are handed to the worktree.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..core.proc import git
from .imports import ImportLayout

#: Pinned for every test run (the spec's eval_commands run after and may override them).
PINNED_TEST_ENV = {"TZ": "UTC", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"}


def test_program(test_cmd: str) -> str | None:
    """The program a test command runs by bare name (``pytest``, ``tox``), looked up on PATH;
    None for a path (``bin/test``) or the interpreter, which resolve to the environment anyway."""
    for word in test_cmd.split():
        if "=" in word and not word.startswith("-"):
            continue  # a VAR=value prefix
        if "/" in word or re.fullmatch(r"python[\d.]*", word):
            return None
        return word
    return None


def missing_program(env_key: str, venv: Path, program: str) -> str:
    """The infra message for a test program the environment does not provide."""
    return (
        f"{env_key}: the test command's `{program}` is not installed in the environment "
        f"({venv / 'bin'}); running it would run another installation's, so the tests did "
        "not run. Add it to the spec's pip_packages or fix the build (see its build.log)"
    )


#: What an install generates that the package imports: setuptools_scm version files, extensions.
GENERATED_SUFFIXES = (".py", ".so", ".pyd")
#: Build byproducts that are never imported from the package's folders.
_NOT_GENERATED = ("__pycache__", ".egg-info", ".eggs", "build/", ".tox/", ".git/")


async def generated_files(checkout: Path, layout: ImportLayout) -> list[str]:
    """Untracked files the install left inside the project's packages (relative paths).

    The harness installs at base_commit in the checkout it tests, so a file the install generates
    (pytest's ``src/_pytest/_version.py``, astropy's compiled extensions) is there when the tests
    import the package. A worktree checked out for an evaluation has only tracked files; these are
    the ones it must get from the environment's checkout.
    """
    result = await git("ls-files", "--others", "-z", cwd=checkout, timeout=300)
    if result.exit_code != 0:
        return []
    packages = {
        (Path(root) / name).as_posix().removeprefix("./")
        for root in layout.roots for name in layout.top_level
    }  # fmt: skip
    found = []
    for path in result.output.split("\0"):
        if not path.endswith(GENERATED_SUFFIXES) or any(bad in path for bad in _NOT_GENERATED):
            continue
        if any(path == f"{pkg}.py" or path.startswith(f"{pkg}/") for pkg in packages):
            found.append(path)
    return sorted(found)


#: Test programs that run the interpreter through a path outside the venv, which then does not
#: find the venv: ``tox --current-env`` (sphinx) symlinks ``.tox/py39/bin/python`` to the venv's
#: python, and Python run through that link takes the base interpreter's prefix.
OUTSIDE_VENV = ("tox",)


def site_path(program: str, site_packages: list[str], pythonpath: str) -> str:
    """``pythonpath``, with the venv's site-packages appended when ``program`` runs its
    interpreter from outside the venv (after the code under test, so the worktree still wins)."""
    if program not in OUTSIDE_VENV:
        return pythonpath
    return ":".join([p for p in pythonpath.split(":") if p] + site_packages)
