"""Ramp's images: the base, one Python layer per interpreter, and their disk budget.

Layering: ``ramp/base:bookworm`` (debootstrap, base.py) carries Debian's python3.11, git, patch and
the libraries CPython links against. Specs asking for 3.11 use that interpreter as is. Any other
version gets a ``ramp/python`` layer holding a copy of the host's own build of it (pyenv's, or a
uv-managed one) at the same path: host and image are both bookworm, so the copy finds the same
shared libraries, and the same path keeps the build's absolute prefix valid. No conda, no
compiler, no network: an operator who can run the local evaluator can build these images, and the
preflight names the exact interpreter that is missing. Environment images (one per repo and
version, evaluators/docker_envs.py) sit on top of these.

The budget counts the space Ramp's images hold (shared layers once). When it is exceeded, the
least recently used environment images are removed; "used" is the mtime of a small stamp file
touched whenever an evaluation or sandbox starts from an image.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from ..core.errors import InfraError
from ..workspace.locks import file_lock
from ..workspace.pythons import PythonSource, find_python, missing_python_message
from .client import LABEL_KIND, LABEL_MARKER, MARKER, call, labels
from .containers import Box

#: The Python every base image already has (Debian bookworm's).
DEBIAN_PYTHON = ("3.11", "/usr/bin/python3.11")
PYTHON_REPO = "ramp/python"
#: Kinds of image the budget may evict (the base and Python layers are cheap to keep, slow to redo).
EVICTABLE = ("env",)


def base_build_command(tag: str) -> str:
    return f"python -m engine.docker.base --tag {tag}"


async def has_image(client: Any, ref: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        await call(client.images.get, ref)
    except ImageNotFound:
        return False
    return True


def host_prefix(version: str, finders: list[PythonSource]) -> Path | None:
    """The installation prefix of the host's own build of ``version`` (pyenv or uv, never PATH)."""
    usable: list[PythonSource] = [f for f in finders if f != "path"]  # not a relocatable folder
    python = find_python(version, usable)
    if python is None:
        return None
    out = subprocess.run(
        [str(python), "-c", "import sys; print(sys.base_prefix)"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def python_problem(version: str, finders: list[PythonSource]) -> str | None:
    """What is missing for an image with Python ``version``, or None."""
    if version == DEBIAN_PYTHON[0] or host_prefix(version, finders) is not None:
        return None
    searched: list[PythonSource] = [f for f in finders if f != "path"]
    return (
        f"{missing_python_message(version, searched)}; docker images copy the host's own build of "
        "each Python but 3.11 (Debian's, in the base image)"
    )


def _skip_bulk(info: Any) -> Any:
    """Leave the host's installed packages and CPython's own test suite out of a Python layer."""
    if re.search(r"/lib/python[\d.]+/(site-packages|test)/.", info.name):
        return None
    return info


class ImageStore:
    """Finds or builds the Python layer of a version, and keeps Ramp's images under the budget."""

    def __init__(
        self, client: Any, base: str, finders: list[PythonSource], state_dir: Path, budget_gb: float
    ):
        self.client = client
        self.base = base
        self.finders = finders
        self.state_dir = Path(state_dir)
        self.budget = int(budget_gb * 2**30)
        self._pythons: dict[str, tuple[str, str]] = {}
        self._lock = anyio.Lock()

    async def python(self, version: str) -> tuple[str, str]:
        """(image, interpreter path inside it) for ``version``; builds the layer the first time."""
        if version == DEBIAN_PYTHON[0]:
            return self.base, DEBIAN_PYTHON[1]
        async with self._lock:
            if version in self._pythons:
                return self._pythons[version]
            prefix = await anyio.to_thread.run_sync(host_prefix, version, self.finders)
            if prefix is None:
                raise InfraError(str(python_problem(version, self.finders)))
            base_id = (await call(self.client.images.get, self.base)).id
            digest = hashlib.sha256(f"{prefix}\n{base_id}".encode()).hexdigest()[:12]
            tag = f"{PYTHON_REPO}:{version}-{digest}"
            async with file_lock(self.state_dir / f"python-{version}.lock"):
                if not await has_image(self.client, tag):
                    await self.commit_tree(
                        self.base, prefix, tag, labels("python"), exclude=_skip_bulk
                    )
            interpreter = next(
                str(p) for p in (prefix / "bin" / f"python{version}", prefix / "bin" / "python3")
                if p.exists()
            )  # fmt: skip
            self._pythons[version] = (tag, interpreter)
            return tag, interpreter

    async def commit_tree(
        self,
        image: str,
        tree: Path,
        tag: str,
        image_labels: dict[str, str],
        exclude: Callable[[Any], Any] | None = None,
    ) -> None:
        """Make ``tag``: ``image`` plus the host folder ``tree`` at the same path."""
        container = await call(self.client.containers.create, image, ["true"], labels=image_labels)
        box = Box(container)
        try:
            await box.put_tree(tree, str(tree), exclude=exclude)
            repository, _, version = tag.rpartition(":")
            await call(
                container.commit, repository=repository, tag=version,
                conf={"Labels": image_labels, "Cmd": ["/bin/bash"]},
            )  # fmt: skip
        finally:
            await box.remove()

    def _stamp(self, ref: str) -> Path:
        return self.state_dir / f"used-{re.sub(r'[^A-Za-z0-9_.-]', '_', ref)}"

    def touch(self, ref: str) -> None:
        """Record that ``ref`` was just used (the LRU clock of the budget)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._stamp(ref).touch()

    def _last_used(self, image: dict[str, Any]) -> float:
        stamps = [self._stamp(ref) for ref in image.get("RepoTags") or []]
        return max([s.stat().st_mtime for s in stamps if s.exists()], default=image["Created"])

    async def usage(self) -> tuple[int, list[dict[str, Any]]]:
        """Bytes held by Ramp's images (shared layers once), and those images."""
        df = await call(self.client.df)
        ours = [
            i for i in df.get("Images") or [] if (i.get("Labels") or {}).get(LABEL_MARKER) == MARKER
        ]
        own = sum(max(0, i["Size"] - max(0, i.get("SharedSize", 0))) for i in ours)
        shared = max([i.get("SharedSize", 0) for i in ours], default=0)
        return own + max(0, shared), ours

    async def enforce_budget(self, keep: set[str]) -> list[str]:
        """Remove least recently used environment images until the budget holds; return their tags."""
        from docker.errors import APIError

        total, ours = await self.usage()
        removed: list[str] = []
        candidates = sorted(
            (i for i in ours if (i.get("Labels") or {}).get(LABEL_KIND) in EVICTABLE),
            key=self._last_used,
        )
        for image in candidates:
            if total <= self.budget:
                break
            tags = image.get("RepoTags") or []
            if image.get("Containers", 0) > 0 or keep & set(tags):
                continue
            try:
                await call(self.client.images.remove, image["Id"], force=False)
            except APIError:
                continue  # in use by a container that started meanwhile
            total -= max(0, image["Size"] - max(0, image.get("SharedSize", 0)))
            removed.extend(tags)
        return removed

