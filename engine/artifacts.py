"""The per-run folder: runs/<run_id>/.

- manifest.json: versions, config, dataset lock, git sha (rewritten atomically);
- predictions.jsonl: SWE-bench predictions format (instance_id, model_name_or_path, model_patch),
  one line per attempt that produced its patch, with an ``attempt`` field;
- attempts/<instance_id>/<attempt>/: patch.diff, trajectory.json, eval files and test log.

predictions.jsonl is appended as attempts finish and rebuilt from the store when a run resumes, so a
SIGKILL between the store commit and the append can neither lose nor duplicate a line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


def safe_name(text: str) -> str:
    """A file-name-safe version of an instance id or run id."""
    return _SAFE.sub("_", text)


def atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunFolder:
    """Paths and writers for one run's artifacts. Everything written passes through ``redact``."""

    def __init__(self, runs_dir: Path, run_id: str, redact: Callable[[str], str] | None = None):
        self.path = Path(runs_dir) / safe_name(run_id)
        self.run_id = run_id
        self._redact = redact or (lambda text: text)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.jsonl"

    def attempt_dir(self, instance_id: str, attempt: int) -> Path:
        path = self.path / "attempts" / safe_name(instance_id) / str(attempt)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_manifest(self, data: dict[str, Any]) -> None:
        atomic_write(self.manifest_path, self._redact(json.dumps(data, indent=2, default=str)) + "\n")

    def read_manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {}

    def write_patch(self, instance_id: str, attempt: int, patch: str) -> tuple[Path, str, str]:
        """Save an attempt's patch, redacted; returns its path, its sha256 and the redacted text,
        which is the patch the run records, exports and grades."""
        patch = self._redact(patch)
        path = self.attempt_dir(instance_id, attempt) / "patch.diff"
        atomic_write(path, patch)
        return path, hashlib.sha256(patch.encode()).hexdigest(), patch

    def write_json(self, instance_id: str, attempt: int, name: str, data: Any) -> Path:
        path = self.attempt_dir(instance_id, attempt) / name
        atomic_write(path, self._redact(json.dumps(data, indent=2, default=str)))
        return path

    def redact_attempt(self, instance_id: str, attempt: int) -> None:
        """Redact every file of an attempt in place: backends (evaluators, containers) write test
        logs and patch copies there without knowing the secrets, so they are scrubbed afterwards."""
        for path in self.attempt_dir(instance_id, attempt).rglob("*"):
            if not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            clean = self._redact(text)
            if clean != text:
                atomic_write(path, clean)

    @staticmethod
    def prediction(instance_id: str, attempt: int, model_name: str, patch: str) -> dict[str, Any]:
        return {
            "instance_id": instance_id,
            "model_name_or_path": model_name,
            "model_patch": patch,
            "attempt": attempt,
        }

    def append_prediction(self, instance_id: str, attempt: int, model_name: str, patch: str) -> None:
        line = json.dumps(self.prediction(instance_id, attempt, model_name, self._redact(patch)))
        with open(self.predictions_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def rebuild_predictions(self, predictions: Iterable[dict[str, Any]]) -> int:
        """Rewrite predictions.jsonl from the store's finished attempts; returns the line count."""
        lines = [self._redact(json.dumps(p)) for p in predictions]
        atomic_write(self.predictions_path, "".join(line + "\n" for line in lines))
        return len(lines)
