"""What runs on a Ray node: the run's evaluator and sandbox factory, built there from its settings.

The head sends a :class:`NodeSpec` (the run's settings as JSON, its repository source and the
family's evaluator) with every evaluation and sandbox. The node builds its backends from it, so its
repository and environment caches are its own (``paths.cache_dir`` as resolved on the node, or the
shared ``ray.cache_dir``); the file locks those caches use already serialise builds between the
node's processes.

An evaluation streams what it is doing: first which node took it, then its progress (environment
build steps, tests), then its result with the files it wrote, which the head writes into the
attempt's folder. Its own ``AttemptError`` travels as an item, not an exception, so its class
survives the trip. Nothing here imports ray at module level: the head imports this module too.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from ..core import progress
from ..core.errors import AttemptError

#: The most of one evaluation's files sent back to the head; a larger file keeps its last part.
MAX_FILE_BYTES = 32 * 2**20


@dataclass(frozen=True)
class NodeSpec:
    """What a node needs to build the run's backends."""

    settings_json: str
    repo_source: str
    #: The task family's evaluator, or "" for the configured one (run.evaluator).
    evaluator: str
    run_id: str
    #: Ramp's version on the head: a node running another refuses, naming both.
    version: str


def node_label() -> str:
    """This node as the TUI and eval.json name it: its address and the start of its Ray id."""
    import ray

    context = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:8]}"


def _settings(spec: NodeSpec) -> Any:
    from ..core.config import Settings
    from ..core.version import ramp_version

    if spec.version != (mine := ramp_version()):
        raise AttemptError("infra", f"this node runs ramp {mine}, the head {spec.version}: install the "
                                    "head's version on every node")  # fmt: skip
    settings = Settings.model_validate_json(spec.settings_json)
    if settings.ray.cache_dir is not None:
        settings.paths.cache_dir = settings.ray.cache_dir
    return settings


def build_evaluator(spec: NodeSpec) -> Any:
    from ..evaluators import build_evaluator as build
    from ..workspace.repos import RepoCache

    settings = _settings(spec)
    cache = settings.paths.resolved_cache_dir()
    repos = RepoCache(cache, spec.repo_source) if spec.repo_source else None
    return build(settings, repo_source=spec.repo_source, repo_cache=repos, name=spec.evaluator or None)


def evaluate_stream(spec: NodeSpec, request: Any) -> Iterator[tuple[Any, ...]]:
    """Evaluate ``request`` here; yield ("node", label), ("progress", name, detail)..., then one of
    ("result", result dict, {relative path: bytes}), ("error", class, message) or ("crash", message)."""
    yield ("node", node_label())
    items: queue.Queue[tuple[Any, ...]] = queue.Queue()
    scratch = Path(tempfile.mkdtemp(prefix="ray-eval-"))

    def work() -> None:
        try:
            result = anyio.run(_evaluate, spec, request.model_copy(update={"log_dir": scratch}), items)
            items.put(("result", result.model_dump(), _files(scratch), str(scratch)))
        except AttemptError as exc:
            items.put(("error", exc.error_class, str(exc)))
        except BaseException as exc:  # reported to the head as infra, with what it was
            items.put(("crash", f"{type(exc).__name__}: {exc}"))

    worker = threading.Thread(target=work, name="ramp-eval", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            yield item
            if item[0] != "progress":
                return
    finally:
        worker.join(timeout=5)
        shutil.rmtree(scratch, ignore_errors=True)


async def _evaluate(spec: NodeSpec, request: Any, items: queue.Queue[tuple[Any, ...]]) -> Any:
    evaluator = build_evaluator(spec)

    async def forward(name: str, detail: str) -> None:
        items.put(("progress", name, detail))

    try:
        with progress.reporting(forward):
            return await evaluator.evaluate(request)
    finally:
        await evaluator.aclose()


def _files(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                fh.seek(max(0, size - MAX_FILE_BYTES))
                files[path.relative_to(folder).as_posix()] = fh.read()
    return files


class SandboxHost:
    """A Ray actor's body: one attempt's sandbox, made and used on the node the actor runs on."""

    def __init__(self, spec: NodeSpec):
        self.spec = spec
        self.sandbox: Any = None

    async def create(self, instance: Any, key: str) -> AsyncIterator[tuple[Any, ...]]:
        """Make the sandbox here; yield ("node", label) first, then its progress (a repository
        fetch) as ("progress", name, detail), then ("made", workdir) or ("error", exception)."""
        from ..sandbox import build_sandbox_factory
        from ..workspace.repos import RepoCache

        yield ("node", node_label())
        items: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

        async def forward(name: str, detail: str) -> None:
            await items.put(("progress", name, detail))

        async def make() -> None:
            try:
                settings = _settings(self.spec)
                repos = RepoCache(settings.paths.resolved_cache_dir(), self.spec.repo_source)
                factory = build_sandbox_factory(settings, repo_cache=repos, run_id=self.spec.run_id)
                with progress.reporting(forward):
                    self.sandbox = await factory.create(instance, key)
                await items.put(("made", self.sandbox.workdir))
            except AttemptError as exc:
                await items.put(("error", exc))
            except Exception as exc:  # the head gets a class it can always unpickle
                await items.put(("error", AttemptError("infra", f"sandbox: {type(exc).__name__}: {exc}")))

        maker = asyncio.ensure_future(make())
        try:
            while True:
                item = await items.get()
                yield item
                if item[0] != "progress":
                    return
        finally:
            await maker

    async def call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self.sandbox, method)(*args)
        except (AttemptError, FileNotFoundError, ValueError, PermissionError):
            raise
        except Exception as exc:  # the head gets a class it can always unpickle
            raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
