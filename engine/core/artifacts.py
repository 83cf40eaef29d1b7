"""The per-run folder: runs/<run_id>/.

- manifest.json: versions, config, dataset lock, git sha (rewritten atomically);
- predictions.jsonl: SWE-bench predictions format (instance_id, model_name_or_path, model_patch),
  one line per attempt that produced its patch, with an ``attempt`` field;
- attempts/<instance_id>.<attempt>/: patch.diff, trajectory.json, eval files and test log. One
  folder per attempt, not a folder per instance with one per attempt in it: making a directory is
  the costliest thing an attempt does to the file system (ext4 allocates it a block), and on this
  project's test machine two of them took more CPU than the rest of an attempt's orchestration. A
  run begun before this layout keeps its attempts' folders (attempts/<instance_id>/<attempt>/).

predictions.jsonl is appended as attempts finish and rebuilt from the store when a run resumes, so a
SIGKILL between the store commit and the append can neither lose nor duplicate a line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .secrets import redact_data, redacted_json

_SAFE = re.compile(r"[^A-Za-z0-9._+-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: The longest run or instance id accepted. SWE-bench's ids are under 60 characters; every id
#: becomes a folder name (255 bytes at most), often beside a suffix.
MAX_ID_LENGTH = 128


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a run or instance id, or None. Ids build paths (run folders, attempt
    folders, worktrees, gold records), so one must not be able to leave the folder it names:
    no path separator, no ``..``, no control character, and a length a file system takes."""
    if not value:
        return "it is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"it is {len(value)} characters long, more than {MAX_ID_LENGTH}"
    if "/" in value or "\\" in value:
        return "it contains a path separator"
    if ".." in value or value == ".":
        return "it contains '..' or is '.'"
    if _CONTROL.search(value):  # a dataset's every id is checked at start-up: one search, not a loop
        return "it contains a control character"
    return None


def shown_id(value: str) -> str:
    """An id quoted in a message, cut so that a 5,000-character one does not flood the terminal."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


def safe_name(text: str) -> str:
    """A file-name-safe version of an instance id or run id (which :func:`id_problem` accepted)."""
    return _SAFE.sub("_", text)


def atomic_write(path: Path, text: str, *, sync: bool = True) -> os.stat_result:
    """Write through a temporary file and rename, so readers never see half a file; returns the
    file's status as written.

    ``sync=False`` skips the fsync: the file then survives a kill of the process (the kernel holds
    it) but not a crash of the OS, the same promise the store's commits make (WAL with
    ``synchronous=NORMAL``). Per-attempt files (patch, eval.json, trajectory) take it: an fsync
    each cost more CPU than the rest of an attempt's orchestration together.

    The file is written with the os module's calls, as UTF-8 bytes: a text-mode ``open`` builds
    three layers of file objects and asks whether the file is a terminal, about 8 of the 31 us
    this took on tmpfs (an attempt writes two files)."""
    data = text.encode("utf-8")  # before the file exists: text that cannot be encoded leaves none
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, _CREATE, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, _CREATE, 0o666)
    try:
        _write_all(fd, data)
        if sync:
            os.fsync(fd)
        written = os.fstat(fd)
    except BaseException:  # a full disk, a file size limit: the old file stays, and no half of the new
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    return written


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


def _write_all(fd: int, data: bytes) -> None:
    """Every byte of ``data`` (a write may take fewer than it was given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _files_below(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """Every regular file under ``folder`` (a link to one counts; a linked folder is not entered,
    as ``Path.rglob`` does not), with its status. ``os.scandir`` rather than ``rglob``: half the
    CPU, which every attempt spends once."""
    found: list[tuple[Path, os.stat_result]] = []
    folders = [folder]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    info = entry.stat()
                    if stat.S_ISDIR(info.st_mode):
                        if not entry.is_symlink():
                            folders.append(Path(entry.path))
                    elif stat.S_ISREG(info.st_mode):
                        found.append((Path(entry.path), info))
                except OSError:  # gone since it was listed
                    continue
    return found


class RunFolder:
    """Paths and writers for one run's artifacts. Everything written passes through ``redact``."""

    def __init__(self, runs_dir: Path, run_id: str, redact: Callable[[str], str] | None = None):
        if problem := id_problem(run_id):
            raise ConfigError(f"run id {shown_id(run_id)} cannot name a folder: {problem}", field="--run-id")
        self.path = Path(runs_dir) / safe_name(run_id)
        self.run_id = run_id
        self._redact = redact or (lambda text: text)
        self._made: dict[tuple[str, int], Path] = {}
        #: Whether the run folder had attempts before this process (known at the first attempt).
        self._resumed: bool | None = None
        #: Files this folder wrote (already redacted), as (size, mtime) when written: redacting an
        #: attempt reads again only what changed since, or what backends wrote.
        self._written: dict[Path, tuple[int, int]] = {}
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.jsonl"

    def attempt_dir(self, instance_id: str, attempt: int) -> Path:
        """An attempt's folder, made at its first use (a writer that finds it removed since makes it
        again: :func:`atomic_write`). Only a run folder that had attempts before this process is
        looked at for the old layout, so a new run's attempt costs one mkdir and no stat."""
        key = (instance_id, attempt)
        path = self._made.get(key)
        if path is not None:
            return path
        name = safe_name(instance_id)
        if self._resumed is None:
            self._resumed = (self.path / "attempts").is_dir()
        if self._resumed and (legacy := self.path / "attempts" / name / str(attempt)).is_dir():
            path = legacy  # an attempt of a run begun before the layout
        else:
            path = self.path / "attempts" / f"{name}.{attempt}"
            try:
                path.mkdir()
            except FileNotFoundError:  # the run's first attempt: attempts/ is new too
                path.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                pass
        self._made[key] = path
        return path

    def write_manifest(self, data: dict[str, Any]) -> None:
        atomic_write(self.manifest_path, redacted_json(data, self._redact, indent=2) + "\n")

    def write_patch(self, instance_id: str, attempt: int, patch: str) -> tuple[Path, str, str]:
        """Save an attempt's patch, redacted; returns its path, its sha256 and the redacted text,
        which is the patch the run records, exports and grades."""
        patch = self._redact(patch)
        path = self.attempt_dir(instance_id, attempt) / "patch.diff"
        self._remember(path, atomic_write(path, patch, sync=False))
        return path, hashlib.sha256(patch.encode()).hexdigest(), patch

    def write_json(self, instance_id: str, attempt: int, name: str, data: Any, *, native: bool = False) -> Path:
        """``data`` as JSON, redacted (``native``: it holds only JSON's own types; see redacted_json)."""
        path = self.attempt_dir(instance_id, attempt) / name
        self._remember(path, atomic_write(path, redacted_json(data, self._redact, indent=2, native=native), sync=False))
        return path

    def _remember(self, path: Path, written: os.stat_result) -> None:
        self._written[path] = (written.st_size, written.st_mtime_ns)

    def redact_attempt(self, instance_id: str, attempt: int) -> None:
        """Redact every file of an attempt in place: backends (evaluators, containers) write test
        logs and patch copies there without knowing the secrets, so they are scrubbed afterwards."""
        self.redact_files(self.foreign_files(instance_id, attempt))

    def foreign_files(self, instance_id: str, attempt: int) -> list[Path]:
        """The files of an attempt that :meth:`redact_attempt` must read: a file this folder wrote
        itself (redacted then) and nothing changed since is not read again. Lists and stats only."""
        foreign = []
        for path, info in _files_below(self.attempt_dir(instance_id, attempt)):
            if self._written.pop(path, None) != (info.st_size, info.st_mtime_ns):
                foreign.append(path)
        return foreign

    def redact_files(self, paths: Iterable[Path]) -> None:
        """Read each file and write it back redacted if a secret was in it (test logs can be large:
        callers run this in a worker thread)."""
        for path in paths:
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            clean = self._redact_file(path, text)
            if clean != text:
                atomic_write(path, clean, sync=False)

    def _redact_file(self, path: Path, text: str) -> str:
        """A JSON file is redacted value by value (it stays valid JSON); anything else as text."""
        if path.suffix == ".json":
            try:
                data = json.loads(text)
            except ValueError:
                pass
            else:
                clean = redact_data(data, self._redact)
                return text if clean is data else json.dumps(clean, indent=2)
        return self._redact(text)

    @staticmethod
    def prediction(instance_id: str, attempt: int, model_name: str, patch: str) -> dict[str, Any]:
        return {
            "instance_id": instance_id,
            "model_name_or_path": model_name,
            "model_patch": patch,
            "attempt": attempt,
        }

    def append_prediction(self, instance_id: str, attempt: int, model_name: str, patch: str) -> None:
        """One line of predictions.jsonl, appended whole (from the event loop, so lines never
        interleave). Not fsynced: the store holds every finished attempt's patch, and a resumed run
        rewrites the file from it (:meth:`rebuild_predictions`)."""
        line = redacted_json(self.prediction(instance_id, attempt, model_name, patch), self._redact, native=True)
        fd = os.open(self.predictions_path, _APPEND, 0o666)  # one write of the whole line (O_APPEND)
        try:
            _write_all(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)

    def rebuild_predictions(self, predictions: Iterable[dict[str, Any]]) -> int:
        """Rewrite predictions.jsonl from the store's finished attempts; returns the line count."""
        lines = [redacted_json(p, self._redact, native=True) for p in predictions]
        atomic_write(self.predictions_path, "".join(line + "\n" for line in lines))
        return len(lines)
