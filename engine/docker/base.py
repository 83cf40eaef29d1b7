"""Build Ramp's base image offline: ``python -m engine.docker.base [--tag ramp/base:bookworm]``.

No registry is needed (none answers on an offline host, and Ramp must still evaluate there):
``debootstrap --variant=minbase`` makes a Debian root file system from Debian's package mirror,
which apt already reaches, and ``docker import`` turns it into an image. The packages are what the
evaluation needs and nothing else: Debian's python3.11 (with venv), git and patch for the official
patch fallbacks, CA certificates, and the shared libraries CPython links against, so a copy of the
host's own build of another Python version runs in the image (images.py). It takes about a minute
and is skipped when the image exists (``--force`` rebuilds). Needs root and debootstrap
(``apt-get install debootstrap``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_TAG = "ramp/base:bookworm"
PACKAGES = (
    "python3", "python3-venv", "git", "patch", "ca-certificates",
    # what pyenv/uv builds of other Python versions link against (bookworm's sonames)
    "libffi8", "libsqlite3-0", "libssl3", "libreadline8", "libncursesw6", "liblzma5",
    "libbz2-1.0", "libnsl2", "libuuid1", "libgdbm6",
)  # fmt: skip
CHANGES = [
    "LABEL ramp.marker=ramp ramp.kind=base",
    "ENV LANG=C.UTF-8",
    'CMD ["/bin/bash"]',
]


def build(tag: str, suite: str, mirror: str, force: bool) -> int:
    from .client import DockerUnavailable, connect

    try:
        client = connect()
    except DockerUnavailable as exc:
        print(exc, file=sys.stderr)
        return 3
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
        if not force:
            print(f"{tag} exists; nothing to do (--force rebuilds it)")
            return 0
    except ImageNotFound:
        pass
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        print("needs root and debootstrap (`apt-get install debootstrap`)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ramp-base-") as scratch:
        root = Path(scratch) / "root"
        command = [
            "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
            suite, str(root), mirror,
        ]  # fmt: skip
        print("$ " + " ".join(command), flush=True)
        if subprocess.run(command, stdout=subprocess.DEVNULL).returncode != 0:
            print(f"debootstrap failed; see {root}/debootstrap/debootstrap.log", file=sys.stderr)
            return 3
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        archive = Path(scratch) / "root.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True)
        repository, _, version = tag.rpartition(":")
        client.api.import_image_from_file(
            str(archive), repository=repository, tag=version, changes=CHANGES
        )
    print(f"built {tag}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.docker.base", description=__doc__)
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default {DEFAULT_TAG})")
    parser.add_argument("--suite", default="bookworm", help="Debian suite; keep the host's")
    parser.add_argument("--mirror", default="http://deb.debian.org/debian")
    parser.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    args = parser.parse_args(argv)
    return build(args.tag, args.suite, args.mirror, args.force)


if __name__ == "__main__":
    sys.exit(main())
