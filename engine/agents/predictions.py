"""Evaluate patches someone else's agent produced: ``ramp run --agent predictions --predictions PATH``.

The run is an ordinary Ramp run (phases, gates, reports, leaderboard, resume); its "agent" hands each
instance the patch the files hold for it. What it reads:

- SWE-bench JSONL, one object a line, and JSON lists of the same objects: ``instance_id``,
  ``model_name_or_path``, ``model_patch``;
- SWE-agent's and mini-swe-agent's ``preds.json``: an object keyed by instance id, each value such an
  object (its ``instance_id``, if present, must agree with the key);
- a folder: every SWE-agent ``<id>.traj`` and mini-swe-agent ``<id>.traj.json`` below it, whose
  ``info.submission`` is the patch; the trajectory is imported as the attempt's trajectory.

``model_name_or_path`` labels the run (store, reports, leaderboard). Files holding several models
are refused unless ``--predictions-model NAME`` picks one. Only instances with a prediction are
selected; the dataset's others are listed in a start-up alert, never scored as the model's failures.
Every problem names the file, the line (JSONL) or the key, and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import ConfigError
from ..core.yamlfile import read_text
from ..sandbox.base import Sandbox
from .base import AgentBase, AgentReporter, AgentResult, AgentTask

TRAJECTORY_SUFFIXES = (".traj.json", ".traj")
#: Patches a prediction may hold before the file is suspected of being something else.
MAX_PATCH_BYTES = 20 * 2**20


class PredictionsConfig(BaseModel):
    """``agents.predictions`` in config/ramp.yaml, or ``--predictions`` / ``--predictions-model``."""

    model_config = ConfigDict(extra="forbid")

    paths: list[Path] = Field(
        default_factory=list,
        description="Predictions files (.jsonl, .json list, preds.json) or folders of .traj / .traj.json files.",
    )
    model: str | None = Field(
        default=None, description="The model_name_or_path to evaluate when the files hold several."
    )


@dataclass(frozen=True)
class Prediction:
    instance_id: str
    model: str
    patch: str
    #: Where it was read: ``FILE:LINE`` or ``FILE[key]``.
    source: str
    #: An imported trajectory (.traj / .traj.json), saved as the attempt's own.
    trajectory: Any = None


def _text(value: Any, where: str, field: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise ConfigError(f"{where}: field {field!r} must be a string, got {got}", field="agents.predictions.paths")
    if len(value) > MAX_PATCH_BYTES:
        raise ConfigError(f"{where}: field {field!r} is over {MAX_PATCH_BYTES // 2**20} MB", field="agents.predictions.paths")
    return value


def _record(obj: Any, where: str, key: str | None = None) -> Prediction:
    if not isinstance(obj, dict):
        raise ConfigError(
            f"{where}: expected an object with instance_id, model_name_or_path and model_patch, "
            f"got a {type(obj).__name__}", field="agents.predictions.paths",
        )
    iid = obj.get("instance_id", key)
    iid = _text(iid, where, "instance_id")
    if key is not None and iid != key:
        raise ConfigError(f"{where}: instance_id {iid!r} disagrees with its key {key!r}", field="agents.predictions.paths")
    model = _text(obj.get("model_name_or_path"), where, "model_name_or_path", required=False) or "unknown"
    # A prediction without a patch is the agent's "no patch": graded like any other agent's.
    patch = _text(obj.get("model_patch"), where, "model_patch", required=False)
    return Prediction(iid, model, patch, where)


def _read(path: Path) -> str:
    """The file's text, decoded the way every operator file is (a folder, an unreadable file or one
    that is not UTF-8 named with the fix; a UTF-8 byte-order mark accepted)."""
    try:
        return read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found", field="agents.predictions.paths") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not JSON ({exc.msg})", field="agents.predictions.paths") from None


def _from_jsonl(path: Path) -> list[Prediction]:
    out = []
    for number, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not a JSON object ({exc.msg})", field="agents.predictions.paths") from None
        out.append(_record(obj, f"{path}:{number}"))
    return out


def _from_json(path: Path) -> list[Prediction]:
    data = _read_json(path)
    if isinstance(data, list):
        return [_record(obj, f"{path}[{i}]") for i, obj in enumerate(data)]
    if isinstance(data, dict):
        return [_record(obj, f"{path}[{key!r}]", str(key)) for key, obj in data.items()]
    raise ConfigError(
        f"{path}: expected a list of predictions or an object keyed by instance id, got {type(data).__name__}",
        field="agents.predictions.paths",
    )


def _from_trajectory(path: Path) -> Prediction:
    name = path.name
    iid = next(name[: -len(s)] for s in TRAJECTORY_SUFFIXES if name.endswith(s))
    data = _read_json(path)
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise ConfigError(f"{path}: no 'info' object (a SWE-agent or mini-swe-agent trajectory has one)",
                          field="agents.predictions.paths")
    patch = _text(info.get("submission"), f"{path} info", "submission", required=False)
    model = _model_name(data) or info.get("model_name") or "unknown"
    return Prediction(iid, str(model), patch, str(path), trajectory=data)


def _model_name(trajectory: dict[str, Any]) -> str | None:
    """The model a trajectory names in its config (``config.model.model_name``, mini-swe-agent and
    SWE-agent alike), if it does."""
    config = trajectory.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    name = model.get("model_name") or model.get("name") if isinstance(model, dict) else None
    return str(name) if name else None


def read_predictions(paths: list[Path]) -> list[Prediction]:
    """Every prediction in ``paths``, in order; ConfigError naming the file for anything unreadable."""
    out: list[Prediction] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(TRAJECTORY_SUFFIXES))
            if not found:
                raise ConfigError(f"{path}: no .traj or .traj.json files in this folder", field="agents.predictions.paths")
            out += [_from_trajectory(p) for p in found]
        elif not path.exists():
            raise ConfigError(f"{path}: file not found", field="agents.predictions.paths")
        elif path.name.endswith(TRAJECTORY_SUFFIXES):
            out.append(_from_trajectory(path))
        elif path.suffix == ".jsonl":
            out += _from_jsonl(path)
        else:
            out += _from_json(path)
    return out


def choose(predictions: list[Prediction], model: str | None) -> tuple[str, dict[str, Prediction]]:
    """The model evaluated and its prediction per instance; refuses several models without a pick,
    and an instance predicted twice."""
    models = sorted({p.model for p in predictions})
    if model is not None:
        if model not in models:
            raise ConfigError(f"no prediction is for model {model!r}; the files hold: {', '.join(models)}",
                              field="agents.predictions.model")
        predictions = [p for p in predictions if p.model == model]
    elif len(models) > 1:
        raise ConfigError(
            f"the predictions hold {len(models)} models ({', '.join(models)}); evaluate one per run with "
            "--predictions-model NAME (agents.predictions.model)", field="agents.predictions.model",
        )
    if not predictions:
        raise ConfigError("the predictions files hold no prediction", field="agents.predictions.paths")
    by_id: dict[str, Prediction] = {}
    for p in predictions:
        if p.instance_id in by_id:
            raise ConfigError(
                f"instance {p.instance_id!r} is predicted twice: {by_id[p.instance_id].source} and {p.source}",
                field="agents.predictions.paths",
            )
        by_id[p.instance_id] = p
    return predictions[0].model, by_id


class PredictionsAgent(AgentBase):
    """Hands each instance the patch a predictions file holds for it."""

    name = "predictions"
    needs_model = False
    uses_sandbox = False
    Config = PredictionsConfig
    config: PredictionsConfig

    def __init__(self, config: PredictionsConfig | None = None):
        super().__init__(config)
        config = self.config
        if not config.paths:
            raise ConfigError(
                "agent predictions needs its files: pass --predictions PATH [PATH ...] "
                "(or set agents.predictions.paths)", field="agents.predictions.paths",
            )
        label, self.predictions = choose(read_predictions(config.paths), config.model)
        self.model_label: str | None = label
        self.instance_ids: frozenset[str] | None = frozenset(self.predictions)

    async def run(self, task: AgentTask, sandbox: Sandbox, model: Any, reporter: AgentReporter) -> AgentResult:
        prediction = self.predictions[task.instance.instance_id]
        trajectory = None
        if prediction.trajectory is not None and task.trajectory_path is not None:
            task.trajectory_path.parent.mkdir(parents=True, exist_ok=True)
            task.trajectory_path.write_text(json.dumps(prediction.trajectory, indent=1), encoding="utf-8")
            trajectory = str(task.trajectory_path)
        await reporter.step(0, f"imported the prediction of {prediction.model} from {prediction.source} "
                               f"({len(prediction.patch)} bytes)")
        return AgentResult(patch=prediction.patch, exit_status="submitted" if prediction.patch.strip() else "no_patch",
                           steps=1, trajectory_path=trajectory)
