"""The validation registry as people read it: a table per repository, the reasons, and the resolved
rates of a run over every scored instance and over the validated ones.

Pure functions over registry rows (``Store.validations`` / ``StoreReader.validations``), shared by
``ramp validate``, ``ramp doctor --dataset``, the reports and benchmarks/lite_validation.py.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from ..core.checks import Check

#: Columns of the per-repository table, in order.
COLUMNS = ("valid", "env_broken", "flaky", "empty_resolves", "source_incomplete", "infra")


def _short(status: str) -> str:
    return {"env_broken": "broken", "empty_resolves": "empty_ok", "source_incomplete": "no_src"}.get(
        status, status
    )


def repo_table(rows: list[dict[str, Any]]) -> str:
    """Per repository: rows, each status, gold and empty resolved, and setup versus test time.

    ``gold`` counts rows whose gold patch resolved on every run, over the rows whose source was
    complete (a row the mirror cannot supply is reported, not guessed); ``empty`` counts rows whose
    empty patch resolved."""
    by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_repo[str(row["repo"])].append(row)
    header = ["repo", "rows", *(_short(c) for c in COLUMNS), "gold", "empty", "setup_s", "test_s"]
    lines = []
    totals: list[dict[str, Any]] = []
    for repo in sorted(by_repo):
        lines.append(_line(repo, by_repo[repo]))
        totals += by_repo[repo]
    lines.append(_line("total", totals))
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    render = [
        "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [header, *lines]
    ]
    return "\n".join(render)


def _line(repo: str, rows: list[dict[str, Any]]) -> list[Any]:
    counts = {c: sum(1 for r in rows if r["status"] == c) for c in COLUMNS}
    complete = [r for r in rows if r["status"] != "source_incomplete"]
    gold = sum(1 for r in complete if r.get("gold_resolved"))
    empty = sum(1 for r in rows if r.get("empty_resolved"))
    setup = sum(float(r.get("build_s") or 0) for r in rows)
    tests = sum(float(r.get("test_s") or 0) for r in rows)
    return [repo, len(rows), *counts.values(), f"{gold}/{len(complete)}", empty, f"{setup:.0f}", f"{tests:.0f}"]


def reasons(rows: list[dict[str, Any]], limit: int = 200) -> list[str]:
    """One line per row that is not valid: its status, id and reason (and its tests)."""
    out = []
    for row in rows:
        if row["status"] == "valid":
            continue
        tests = json.loads(row.get("broken_json") or "[]") or list(json.loads(row.get("flaky_json") or "{}"))
        shown = f" [{', '.join(tests[:3])}{f' +{len(tests) - 3}' if len(tests) > 3 else ''}]" if tests else ""
        out.append(f"{row['status']:<17} {row['instance_id']}: {(row.get('reason') or '')[:limit]}{shown}")
    return out


def without_env_broken(
    outcomes: dict[str, bool], registry: list[dict[str, Any]], failures: dict[str, list[set[str]]]
) -> int:
    """How many scored instances resolve when the tests the registry records as env-broken for
    them are left out of the verdict: an attempt counts when every test it failed is one of those.
    Only on the operator's request (``ramp report --exclude-env-broken``); the official verdict
    counts every test. ``failures``: instance id -> each graded attempt's failed tests."""
    broken = {r["instance_id"]: set(json.loads(r.get("broken_json") or "[]"))
              for r in registry if r["status"] == "env_broken"}  # fmt: skip
    return sum(
        1 for iid, resolved in outcomes.items()
        if resolved or any(failed and failed <= broken.get(iid, set()) for failed in failures.get(iid, []))
    )  # fmt: skip


def validated_rates(outcomes: dict[str, bool], registry: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's resolved rate over every scored instance and over those the registry says are valid.

    ``outcomes``: instance id -> resolved, for the run's scored instances."""
    valid = {r["instance_id"] for r in registry if r["status"] == "valid"}
    known = {r["instance_id"] for r in registry}
    scored_valid = [i for i in outcomes if i in valid]
    return {
        "scored": len(outcomes),
        "resolved": sum(outcomes.values()),
        "validated": len(scored_valid),
        "resolved_validated": sum(1 for i in scored_valid if outcomes[i]),
        "unvalidated": len([i for i in outcomes if i not in known]),
        "not_valid": sorted(i for i in outcomes if i in known and i not in valid),
    }


def registry_check(rows: list[dict[str, Any]], instance_ids: list[str], evaluator: str) -> Check:
    """What the registry says of the selected instances, as a doctor line: a warning when some
    are not valid or not validated yet, naming them and the command that validates them."""
    mine = {r["instance_id"]: r for r in rows if r["evaluator"] == evaluator}
    counts = Counter(mine[i]["status"] for i in instance_ids if i in mine)
    unknown = [i for i in instance_ids if i not in mine]
    not_valid = [i for i in instance_ids if i in mine and mine[i]["status"] != "valid"]
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    if unknown:
        parts.append(f"{len(unknown)} not validated")
    detail = f"{', '.join(parts) or 'empty'} of {len(instance_ids)} selected ({evaluator})"
    if not_valid:
        shown = ", ".join(f"{i} ({mine[i]['status']})" for i in not_valid[:5])
        detail += f"; not valid: {shown}{' ...' if len(not_valid) > 5 else ''}"
    return Check("validation registry", True, detail + ("; run `ramp validate` for the rest" if unknown else ""),
                 warning=bool(unknown or not_valid))
