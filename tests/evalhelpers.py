"""A tiny real repository, served from a bare mirror, for the evaluator tests.

``calc`` is a src-layout package with an off-by-sign bug in ``add``. The test patch adds the test
that catches it (FAIL_TO_PASS) and the gold patch fixes it; ``test_sub`` is PASS_TO_PASS. The mirror
sits at ``<root>/mirror/ramp-tests+calc`` so the repo source is ``file://<root>/mirror/{owner}+{name}``,
the same shape as a real local mirror.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from engine.datasets.rows import SWEInstance
from engine.datasets.specs import register

REPO = "ramp-tests/calc"
SPEC = {
    "python": "3.11",
    "pip_packages": ["pytest==8.3.5"],
    "install": "python -m pip install --no-build-isolation -e .",
    "test_cmd": "pytest -rA -p no:cacheprovider",
}
register(
    REPO,
    {
        "1.0": SPEC,
        "broken": {**SPEC, "install": "echo 'cannot build calc: missing libcalc' >&2; exit 7"},
        "ancient": {**SPEC, "python": "3.4"},
        # The install writes an ignored version file the package imports (as setuptools_scm does).
        "generated": {
            **SPEC,
            "install": SPEC["install"] + " && printf 'version = \"1.0\"\\n' > src/calc/_version.py",
        },
        # The spec pins a version the project's own requirements refuse (sphinx 4.0 and Jinja2).
        "conflict": {**SPEC, "pip_packages": ["pytest==8.3.5", "iniconfig==2.0.0"]},
        # A runner that starts Python through a link outside the venv, as `tox --current-env` does.
        "tox-like": {
            **SPEC,
            "install": SPEC["install"] + " && printf '#!/bin/sh\\nmkdir -p .tox/py/bin && ln -sf "
            "\"$VIRTUAL_ENV/bin/python\" .tox/py/bin/python && exec .tox/py/bin/python -m pytest "
            "\"$@\"\\n' > \"$VIRTUAL_ENV/bin/tox\" && chmod +x \"$VIRTUAL_ENV/bin/tox\"",
            "test_cmd": "tox -rA -p no:cacheprovider",
            "python": "3.9",  # 3.11 finds the venv through the link; 3.9 (sphinx's) does not
        },
        # A test runner the environment never installs.
        "no-runner": {**SPEC, "test_cmd": "nosetests -v"},
        # Two CPUs, as pylint's specs ask of the harness's container.
        "cpus": {**SPEC, "nano_cpus": int(2e9)},
    },
)

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}

FILES = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "calc"\nversion = "0.1"\n\n'
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n'
    ),
    "src/calc/__init__.py": "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n",
    "tests/test_calc.py": "from calc import sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n",
}
TEST_ADDITION = "\n\ndef test_add():\n    from calc import add\n\n    assert add(2, 2) == 4\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **_GIT_ENV},
    ).stdout


def diff_of(work: Path, edits: dict[str, str]) -> str:
    """The patch that applies ``edits`` (path -> new content) to the work tree's HEAD."""
    for path, content in edits.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(work, "add", "-A")
    patch = git(work, "diff", "--cached")
    git(work, "reset", "--hard", "-q")
    return patch


@dataclass
class CalcRepo:
    root: Path
    base_commit: str
    gold: str
    test_patch: str
    source: str

    def instance(self, version: str = "1.0", **changes: object) -> SWEInstance:
        row = {
            "instance_id": f"ramp-tests__calc-{version}",
            "repo": REPO,
            "base_commit": self.base_commit,
            "environment_setup_commit": self.base_commit,
            "patch": self.gold,
            "test_patch": self.test_patch,
            "version": version,
            "FAIL_TO_PASS": ["tests/test_calc.py::test_add"],
            "PASS_TO_PASS": ["tests/test_calc.py::test_sub"],
        }
        row.update(changes)
        return SWEInstance.model_validate(row)


def with_dependencies(*requirements: str) -> str:
    """calc's pyproject.toml declaring ``requirements`` as its dependencies."""
    listed = ", ".join(f'"{r}"' for r in requirements)
    return FILES["pyproject.toml"].replace('version = "0.1"\n', f'version = "0.1"\ndependencies = [{listed}]\n')


def commit_on_top(calc: CalcRepo, edits: dict[str, str], message: str, **env: str) -> str:
    """Commit ``edits`` on the work tree's main, push it to the mirror, return the new sha."""
    work = calc.root / "work"
    for path, content in edits.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(content)
    git(work, "add", "-A")
    subprocess.run(["git", "commit", "-qm", message], cwd=work, check=True,
                   env={**os.environ, **_GIT_ENV, **env})  # fmt: skip
    git(work, "push", "-q", str(calc.root / "mirror" / "ramp-tests+calc"), "main")
    return git(work, "rev-parse", "HEAD").strip()


def make_calc_repo(root: Path) -> CalcRepo:
    work = root / "work"
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for path, content in FILES.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(content)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "calc")
    base = git(work, "rev-parse", "HEAD").strip()
    gold = diff_of(
        work, {"src/calc/__init__.py": FILES["src/calc/__init__.py"].replace("a - b", "a + b", 1)}
    )
    test_patch = diff_of(work, {"tests/test_calc.py": FILES["tests/test_calc.py"] + TEST_ADDITION})
    mirror = root / "mirror" / "ramp-tests+calc"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirror)], check=True)
    return CalcRepo(root, base, gold, test_patch, f"file://{root}/mirror/{{owner}}+{{name}}")
