"""SWE-bench predictions for an official submission: one line per instance.

runs/<run_id>/predictions.jsonl keeps every attempt's patch (with an ``attempt`` field) as the run
goes. A submission needs exactly one prediction per instance, so :func:`export_predictions` picks one
attempt per instance, deliberately:

- ``first`` (default): the first attempt whose agent produced a result, the patch a single-shot
  system submits. Picking by grade would use the evaluation's oracle and turn a pass@1 submission
  into "resolved within K"; that is what ``resolved`` does, and it says so in its name.
- ``resolved``: the first resolved attempt, else the first one (oracle selection: pass@K-style).
- ``last``: the last attempt with a patch (e.g. after an operator's rerun of a fixed environment).

An instance whose agent never produced anything gets an empty ``model_patch`` (the harness counts
it unresolved), so the file still holds one line per instance. The file is then read back with
swebench's own loader and checked for the fields the harness and sb-cli use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from swebench.harness.constants import KEY_INSTANCE_ID, KEY_MODEL, KEY_PREDICTION
from swebench.harness.utils import get_predictions_from_file

from ..core.artifacts import atomic_write, safe_name
from ..core.errors import ConfigError, RampError

if TYPE_CHECKING:
    from ..store import Store

Pick = Literal["first", "resolved", "last"]


def choose_attempt(attempts: list[dict[str, Any]], pick: Pick) -> dict[str, Any] | None:
    """The attempt to submit among one instance's attempts (in attempt order) that have a patch."""
    with_patch = [a for a in attempts if a["status"] in ("agent_done", "done") and a["patch_path"]]
    if not with_patch:
        return None
    if pick == "last":
        return with_patch[-1]
    if pick == "resolved":
        return next((a for a in with_patch if a["outcome"] == "resolved"), with_patch[0])
    return with_patch[0]


def validate_predictions(path: Path, instance_ids: list[str]) -> list[dict[str, Any]]:
    """Read the file back as the official harness does and check what it relies on."""
    predictions = get_predictions_from_file(str(path), "", "")
    problems = []
    for index, pred in enumerate(predictions, 1):
        missing = [k for k in (KEY_INSTANCE_ID, KEY_MODEL, KEY_PREDICTION) if k not in pred]
        if missing:
            problems.append(f"line {index}: missing {', '.join(missing)}")
        elif not isinstance(pred[KEY_PREDICTION], str) or not isinstance(pred[KEY_MODEL], str):
            problems.append(f"line {index}: {KEY_PREDICTION} and {KEY_MODEL} must be strings")
    ids = [p.get(KEY_INSTANCE_ID) for p in predictions]
    if sorted(ids) != sorted(instance_ids) or len(set(ids)) != len(ids):
        problems.append("the file does not hold exactly one prediction per instance of the run")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return predictions


def _read_patch(instance_id: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RampError(f"{instance_id}: cannot read the saved patch {path}: {exc.strerror}") from None


async def export_predictions(
    store: Store, run_id: str, runs_dir: Path, *, out: Path | None = None, pick: Pick = "first"
) -> tuple[Path, int]:
    """Write the run's submission file; returns its path and the number of non-empty patches."""
    run = await store.get_run(run_id)
    if run is None:
        raise ConfigError(f"no run {run_id!r} in the store", field="RUN_ID")
    config = json.loads(run["config_json"] or "{}").get("run", {})
    model_name = config.get("model") or config.get("agent") or run["agent"]
    by_instance: dict[str, list[dict[str, Any]]] = {}
    for row in await store.attempts(run_id):
        by_instance.setdefault(row["instance_id"], []).append(row)
    instance_ids = [i["instance_id"] for i in await store.instances(run_id)]
    lines, patched = [], 0
    for iid in instance_ids:
        attempt = choose_attempt(by_instance.get(iid, []), pick)
        patch = _read_patch(iid, attempt["patch_path"]) if attempt else ""
        patched += bool(patch.strip())
        lines.append(json.dumps({KEY_INSTANCE_ID: iid, KEY_MODEL: model_name, KEY_PREDICTION: patch}))
    path = out or Path(runs_dir) / safe_name(run_id) / "submission.jsonl"
    if path.suffix not in (".jsonl", ".json"):
        raise ConfigError(f"{path}: the harness reads .jsonl or .json predictions", field="--out")
    if path.suffix == ".json":
        atomic_write(path, "[" + ",\n".join(lines) + "]\n")
    else:
        atomic_write(path, "".join(line + "\n" for line in lines))
    validate_predictions(path, instance_ids)
    return path, patched
