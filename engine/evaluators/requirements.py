"""What a spec's ``packages`` field asks to install, read from the local clone, never the network.

swebench's ``get_requirements`` and ``get_environment_yml`` download the repo's requirement files
from raw.githubusercontent.com at environment_setup_commit. Ramp reads the same files, at the same
paths (``MAP_REPO_TO_REQS_PATHS`` / ``MAP_REPO_TO_ENV_YML_PATHS``, first one present wins), with
``git show`` from the bare clone it already has, and applies the same rules: ``-r`` includes are
inlined relative to the including file, lines starting with ``-e .``, ``#`` or ``.[test`` are dropped,
and swebench's ``clean_requirements`` replacements for yanked packages are applied.

An environment.yml is a conda file; there is no conda here, so its dependencies are translated to
pip requirements (``numpy=1.21`` -> ``numpy==1.21``), its ``pip:`` section is taken as is, and
names that only exist on conda (compilers, system libraries, python itself) are left out.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from pathlib import Path

import yaml
from swebench.harness.constants import MAP_REPO_TO_ENV_YML_PATHS, MAP_REPO_TO_REQS_PATHS
from swebench.harness.test_spec.python import clean_requirements

from ..core.errors import InfraError
from ..core.proc import git

#: Lines swebench drops from requirement files: the project itself and comments.
_EXCLUDED_PREFIXES = ("-e .", "#", ".[test")

#: Conda packages with no pip equivalent worth installing (the interpreter, toolchains, system libs).
CONDA_ONLY = frozenset(
    {
        "python",
        "pip",
        "c-compiler",
        "cxx-compiler",
        "compilers",
        "fortran-compiler",
        "make",
        "cmake",
        "pkg-config",
        "ninja",
        "libcxx",
        "libgcc",
        "libstdcxx-ng",
        "openblas",
        "mkl",
        "blas",
        "graphviz",
        "ffmpeg",
        "imagemagick",
        "ghostscript",
        "texlive-core",
        "nodejs",
        "pandoc",
        "freetype",
        "libpng",
        "qhull",
        "hdf5",
        "libnetcdf",
        "proj",
        "geos",
        "gdal",
        "tk",
        "zlib",
        "sqlite",
        "openssl",
        "ca-certificates",
    }
)


async def read_file_at(bare: Path, commit: str, path: str) -> str | None:
    """A file's text at ``commit`` in the bare clone, or None when it does not exist there."""
    result = await git("show", f"{commit}:{path}", cwd=bare, timeout=120)
    return result.output if result.exit_code == 0 else None


async def _first_present(
    bare: Path, commit: str, paths: list[str], what: str, repo: str
) -> tuple[str, str]:
    for path in paths:
        text = await read_file_at(bare, commit, path)
        if text is not None:
            return path, text
    raise InfraError(
        f"{repo}@{commit[:12]} has no {what} at any of {paths} (the spec's `packages` needs one); "
        "the clone may be incomplete or the spec may not fit this commit"
    )


async def _expand(bare: Path, commit: str, path: str, text: str, seen: set[str]) -> list[str]:
    """Requirement lines of ``text`` with ``-r``/``--requirement`` includes inlined, recursively."""
    lines: list[str] = []
    base = posixpath.dirname(path)
    for line in text.splitlines():
        stripped = line.strip()
        include = re.match(r"^(?:-r|--requirement)(?:\s+|=)?(.+)$", stripped)
        if include:
            target = posixpath.normpath(posixpath.join(base, include.group(1).strip()))
            if target in seen:
                continue
            seen.add(target)
            included = await read_file_at(bare, commit, target)
            if included is not None:
                lines.extend(await _expand(bare, commit, target, included, seen))
            continue
        if not stripped or stripped.startswith(_EXCLUDED_PREFIXES):
            continue
        lines.append(stripped)
    return lines


async def read_requirements(bare: Path, repo: str, commit: str) -> str:
    """The requirements.txt swebench would install for ``repo`` at ``commit``, from the local clone."""
    paths = MAP_REPO_TO_REQS_PATHS.get(repo, ["requirements.txt"])
    path, text = await _first_present(bare, commit, paths, "requirements file", repo)
    lines = await _expand(bare, commit, path, text, {path})
    return clean_requirements("\n".join(lines)) + "\n"


def conda_to_pip(spec: str) -> str | None:
    """A conda match spec as a pip requirement, or None when it has no pip counterpart."""
    spec = spec.strip()
    if "::" in spec:  # channel::name
        spec = spec.split("::", 1)[1]
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    if not match:
        return None
    name, constraint = match.group(1), match.group(2).replace(" ", "")
    if name.lower() in CONDA_ONLY:
        return None
    if not constraint:
        return name
    if constraint.startswith("="):
        if constraint.startswith("=="):
            return name + constraint
        version = constraint[1:].split("=", 1)[0]  # drop a build string
        return f"{name}=={version}" if "*" not in version else f"{name}=={version.rstrip('.*')}.*"
    return name + constraint


async def read_environment_yml(bare: Path, repo: str, commit: str) -> list[str]:
    """The pip-installable dependencies of the repo's environment.yml at ``commit``."""
    paths = MAP_REPO_TO_ENV_YML_PATHS.get(repo, ["environment.yml"])
    path, text = await _first_present(bare, commit, paths, "environment.yml", repo)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InfraError(f"{repo}@{commit[:12]}:{path} is not valid YAML: {exc}") from None
    requirements: list[str] = []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, str):
            converted = conda_to_pip(dep)
            if converted:
                requirements.append(converted)
        elif isinstance(dep, dict):
            requirements.extend(str(item).strip() for item in dep.get("pip") or [])
    cleaned = clean_requirements("\n".join(requirements))
    return [
        line for line in cleaned.splitlines() if line and not line.startswith(_EXCLUDED_PREFIXES)
    ]


def package_list(packages: str) -> list[str]:
    """A spec's plain ``packages`` string (conda-style, shell-quoted) as pip requirements."""
    return [req for req in (conda_to_pip(item) for item in shlex.split(packages)) if req]


async def spec_requirements(spec: dict, bare: Path, repo: str, commit: str) -> list[str]:
    """Everything the spec's ``packages`` field installs, as pip requirement lines."""
    packages = spec.get("packages", "")
    if not packages:
        return []
    if packages == "requirements.txt":
        return (await read_requirements(bare, repo, commit)).splitlines()
    if packages == "environment.yml":
        return await read_environment_yml(bare, repo, commit)
    return package_list(packages)
