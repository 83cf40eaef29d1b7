"""Every malformed input of the corpus (tests/fuzzcases.py) ends with exit code 2 and one message
naming where the problem is, with no traceback, and writes nothing outside the runs folder."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from engine import cli

from .fuzzcases import CASES, Case


def test_the_corpus_is_large_and_covers_every_kind_of_input():
    kinds = {case.name.split("/")[0] for case in CASES}
    assert kinds == {"config", "env", "flag", "catalog", "credentials", "dataset"}
    assert len(CASES) >= 80 and len({c.name for c in CASES}) == len(CASES)


def files_outside_runs(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.parts[len(root.parts)] != "runs"}


def run_case(case: Case, where: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The case's command, in-process (as `ramp` runs it) from its own folder."""
    where.mkdir(parents=True)
    for name, content in case.files.items():
        path = where / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    monkeypatch.chdir(where)
    for variable in [v for v in __import__("os").environ if v.startswith("RAMP_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("RAMP_PATHS__CACHE_DIR", str(cache))
    for variable, value in case.env.items():
        monkeypatch.setenv(variable, value)
    stderr, stdout = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
        code = cli.main(case.argv)
    return code, stderr.getvalue()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input_is_refused_with_a_message_that_names_it(case, tmp_path, cache, monkeypatch):
    where = tmp_path / "case"
    before = set(case.files) | {str(Path(name).parent) for name in case.files if "/" in name}
    code, stderr = run_case(case, where, cache, monkeypatch)
    assert code == 2, f"exit {code}: {stderr}"
    assert stderr.startswith("ramp: error: ") and "Traceback" not in stderr and "internal error" not in stderr
    missing = [m for m in case.mentions if m not in stderr]
    assert missing == [], f"the message does not name {missing}: {stderr}"
    assert files_outside_runs(where) == before
