"""SWE-bench rows from .json, .jsonl and .parquet files, validated one row at a time.

A dataset of hundreds of rows should neither be lost to one bad row nor be silently thinned. Every row
is validated on its own, and each failure becomes a :class:`RowProblem` naming the source, the row,
the instance and the field, with what was expected. The caller's ``on_malformed`` policy decides what
happens next: ``"skip"`` keeps the good rows and reports the others, ``"refuse"`` raises
:class:`~engine.core.errors.DatasetError` listing them all. A duplicate instance_id is a problem too: the
first row with that id is kept, the later ones are reported.

Whole-file failures (missing, unreadable, not a list of rows) are not row problems: they raise
DatasetError at once, naming the file and the fix.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ..core.errors import DatasetError
from .rows import RowT, TaskRow

OnMalformed = Literal["skip", "refuse"]
ON_MALFORMED: tuple[str, ...] = ("skip", "refuse")

#: File suffixes :func:`read_file` understands.
FILE_SUFFIXES = (".json", ".jsonl", ".jsonl.gz", ".parquet")

#: How many problems a refusal lists before summarising the rest.
_LISTED_PROBLEMS = 20


class RowProblem(BaseModel):
    """One malformed row (or one bad field of it), located precisely enough to fix by hand."""

    source: str = Field(description="The file path, or 'name:split' for a Hugging Face dataset.")
    location: str = Field(description="Where in the source, 1-based: 'line 7' (jsonl) or 'row 7'.")
    instance_id: str | None = Field(
        default=None, description="The row's instance_id, when it has a usable one."
    )
    field: str | None = Field(
        default=None, description="The offending field; None when the whole row is unusable."
    )
    expected: str = Field(description="What is wrong and what was expected instead.")

    def __str__(self) -> str:
        parts = [f"{self.source} {self.location}"]
        if self.instance_id:
            parts.append(f"(instance {self.instance_id})")
        where = " ".join(parts)
        field = f"field {self.field}: " if self.field else ""
        return f"{where}: {field}{self.expected}"


#: A row as read, before validation: (location, decoded value).
RawRow = tuple[str, Any]


def _pydantic_problem(
    error: Any, source: str, location: str, instance_id: str | None, kind: type[TaskRow]
) -> RowProblem:
    field = ".".join(str(part) for part in error["loc"]) or None
    if error["type"] == "missing":
        described = kind.model_fields.get(str(error["loc"][0]))
        hint = f" ({described.description})" if described and described.description else ""
        expected = f"missing; expected a value{hint}"
    else:
        expected = error["msg"].removeprefix("Value error, ")
        if error["type"] != "value_error":
            expected += f", got {type(error['input']).__name__} {_preview(error['input'])}"
    return RowProblem(
        source=source, location=location, instance_id=instance_id, field=field, expected=expected
    )


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_rows(
    raw_rows: Iterable[RawRow], source: str, kind: type[RowT]
) -> tuple[list[RowT], list[RowProblem]]:
    """Validate each row on its own as a ``kind`` row (SWEInstance, CompletionProblem); return the
    good rows and a problem per bad field or row."""
    rows: list[RowT] = []
    problems: list[RowProblem] = []
    first_seen: dict[str, str] = {}
    for location, value in raw_rows:
        if not isinstance(value, dict):
            problems.append(
                RowProblem(
                    source=source,
                    location=location,
                    expected=f"expected an object with the {kind.family} fields, got {type(value).__name__}",
                )
            )
            continue
        raw_id = value.get("instance_id", value.get("task_id"))
        instance_id = str(raw_id) if isinstance(raw_id, str | int) and raw_id != "" else None
        try:
            row = kind.model_validate(value)
        except ValidationError as exc:
            problems.extend(
                _pydantic_problem(err, source, location, instance_id, kind) for err in exc.errors()
            )
            continue
        if row.instance_id in first_seen:
            problems.append(
                RowProblem(
                    source=source,
                    location=location,
                    instance_id=row.instance_id,
                    field="instance_id",
                    expected=f"duplicate of {first_seen[row.instance_id]}; instance ids must be unique",
                )
            )
            continue
        first_seen[row.instance_id] = location
        rows.append(row)
    return rows, problems


def enforce_policy(problems: list[RowProblem], on_malformed: OnMalformed, source: str) -> None:
    """Raise DatasetError listing every problem when the policy is "refuse"."""
    if on_malformed not in ON_MALFORMED:
        raise DatasetError(
            f"unknown policy {on_malformed!r}; expected one of {', '.join(ON_MALFORMED)}",
            field="on_malformed",
        )
    if on_malformed == "skip" or not problems:
        return
    listed = "\n".join(f"  - {problem}" for problem in problems[:_LISTED_PROBLEMS])
    more = len(problems) - _LISTED_PROBLEMS
    if more > 0:
        listed += f"\n  ... and {more} more"
    raise DatasetError(
        f"{len(problems)} problem(s) in its rows; fix them, or load with on_malformed='skip' "
        f"to leave those rows out:\n{listed}",
        file=source,
    )


def read_file(path: Path) -> tuple[list[RawRow], list[RowProblem]]:
    """Read the raw rows of a .json, .jsonl or .parquet file; undecodable jsonl lines are problems."""
    path = Path(path)
    suffix = ".jsonl.gz" if path.name.lower().endswith(".jsonl.gz") else path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise DatasetError(
            f"unsupported dataset file type {suffix or '(none)'!r}; use one of "
            f"{', '.join(FILE_SUFFIXES)}",
            file=str(path),
        )
    if not path.is_file():
        raise DatasetError(
            "no such dataset file; check the path (relative paths are resolved from "
            f"{Path.cwd()}) or pass a Hugging Face name such as princeton-nlp/SWE-bench_Lite:dev",
            file=str(path),
        )
    try:
        if suffix == ".parquet":
            return _read_parquet(path), []
        data = gzip.decompress(path.read_bytes()) if suffix == ".jsonl.gz" else path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DatasetError(
            f"cannot read the file ({exc}); check its permissions and that it is UTF-8",
            file=str(path),
        ) from exc
    if suffix.startswith(".jsonl"):
        return _parse_jsonl(text, str(path))
    return _parse_json(text, path), []


def _parse_json(text: str, path: Path) -> list[RawRow]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); a .json dataset "
            "is one JSON list of rows (use .jsonl for one row per line)",
            file=str(path),
        ) from exc
    if not isinstance(data, list):
        raise DatasetError(
            f"expected a JSON list of rows, got a JSON {type(data).__name__}",
            file=str(path),
        )
    return [(f"row {number}", value) for number, value in enumerate(data, start=1)]


def _parse_jsonl(text: str, source: str) -> tuple[list[RawRow], list[RowProblem]]:
    rows: list[RawRow] = []
    problems: list[RowProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(
                RowProblem(
                    source=source,
                    location=f"line {number}",
                    expected=f"not valid JSON ({exc.msg}, column {exc.colno}); "
                    "expected one JSON object per line",
                )
            )
    return rows, problems


def _read_parquet(path: Path) -> list[RawRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        records = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(
            f"cannot read it as parquet ({exc}); re-export the dataset", file=str(path)
        ) from exc
    return [(f"row {number}", value) for number, value in enumerate(records, start=1)]
