"""Where a shared environment imports the repository's code from, so a worktree can take its place.

One venv per (repo, version) serves many evaluations at once, each in its own worktree. The spec's
``install`` (usually ``pip install -e .``) ran once, in the environment's own checkout at
environment_setup_commit. To test a worktree, its import roots (``src/`` for a src layout, the
repository root for a flat one) are put on PYTHONPATH, which Python searches before site-packages,
before the paths an editable install adds through ``.pth`` files, and before setuptools' editable
finders (appended to ``sys.meta_path``). The roots are read back from what the install left in
site-packages, by reading files (no code runs inside the venv, so this works for any Python):

- ``.pth`` lines and ``.egg-link`` files that point into the checkout (legacy and "compat" editables);
- the ``MAPPING`` of setuptools' ``__editable___*_finder.py`` (strict editables);
- ``direct_url.json`` of a distribution installed from the checkout (plain ``pip install .``), whose
  top-level names are then looked up in the checkout.

:func:`import_check_script` then confirms, for each evaluation, that those names resolve inside the
worktree, so a wrong guess becomes an infra error instead of a silently wrong verdict.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, Field

#: Where a package may sit inside a checkout, for installs that leave no path behind.
CANDIDATE_ROOTS = ("src", ".", "lib")


class ImportLayout(BaseModel):
    """Import roots (relative to the repository) and the top-level names the project provides."""

    roots: list[str] = Field(
        default_factory=list, description="'.', 'src', ...; searched in order."
    )
    top_level: list[str] = Field(default_factory=list, description="Importable top-level names.")

    def pythonpath(self, worktree: Path) -> str:
        return ":".join(str((worktree / root).resolve()) for root in self.roots)


def _inside(path: Path, checkout: Path) -> str | None:
    try:
        relative = path.resolve().relative_to(checkout)
    except (ValueError, OSError):
        return None
    return relative.as_posix() or "."


def _record_names(dist_info: Path) -> set[str]:
    names: set[str] = set()
    top_level = dist_info / "top_level.txt"
    if top_level.exists():
        names.update(top_level.read_text().split())
    record = dist_info / "RECORD"
    if record.exists():
        for line in record.read_text().splitlines():
            first = line.split(",", 1)[0].split("/", 1)[0]
            if first.endswith(".py"):
                first = first[:-3]
            if (
                first.isidentifier()
                and not first.startswith("__editable__")
                and first != "__pycache__"
            ):
                names.add(first)
    return names


def _finder_mapping(path: Path) -> dict[str, str]:
    match = re.search(r"^MAPPING\s*(?::[^=\n]*)?=\s*(\{.*?\})\s*$", path.read_text(), re.M | re.S)
    if not match:
        return {}
    try:
        mapping = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return {}
    return {str(k): str(v) for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def _installed_from(dist_info: Path, checkout: Path) -> bool:
    direct_url = dist_info / "direct_url.json"
    if not direct_url.exists():
        return False
    try:
        url = json.loads(direct_url.read_text()).get("url", "")
    except (ValueError, AttributeError):
        return False
    parsed = urlparse(url)
    return parsed.scheme == "file" and _inside(Path(unquote(parsed.path)), checkout) == "."


def find_layout(site_packages: Path, checkout: Path) -> ImportLayout:
    """Read the import roots and top-level names of the project installed from ``checkout``."""
    checkout = checkout.resolve()
    roots: list[str] = []
    names: set[str] = set()
    for pth in sorted(site_packages.glob("*.pth")) + sorted(site_packages.glob("*.egg-link")):
        for line in pth.read_text(errors="replace").splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            root = _inside(site_packages / line, checkout)
            if root is not None:
                roots.append(root)
            if pth.suffix == ".egg-link":
                break  # the first line is the path; the second is the setup dir
    for finder in sorted(site_packages.glob("__editable__*finder.py")):
        for name, target in _finder_mapping(finder).items():
            root = _inside(Path(target).parent, checkout)
            if root is not None:
                roots.append(root)
                names.add(name)
    for dist_info in site_packages.glob("*.dist-info"):
        if _installed_from(dist_info, checkout):
            names.update(_record_names(dist_info))
    for root in list(roots):
        for egg_info in (checkout / root).glob("*.egg-info"):
            names.update(_record_names(egg_info))
    if not roots:
        for name in sorted(names):
            for candidate in CANDIDATE_ROOTS:
                base = checkout / candidate
                if (base / name).is_dir() or (base / f"{name}.py").is_file():
                    roots.append(candidate)
                    break
    roots = list(dict.fromkeys(roots))
    present = sorted(
        name
        for name in names
        if any(
            (checkout / r / name).is_dir() or (checkout / r / f"{name}.py").is_file() for r in roots
        )
    )
    return ImportLayout(roots=roots, top_level=present)


def import_check_script() -> str:
    """Python (any 3.x) that prints where each name in argv would be imported from, as JSON."""
    return (
        "import importlib.util, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        spec = importlib.util.find_spec(name)\n"
        "    except Exception as exc:\n"
        "        out[name] = 'error: %s' % exc\n"
        "        continue\n"
        "    if spec is None:\n"
        "        out[name] = None\n"
        "    elif spec.origin and spec.origin not in ('namespace', 'built-in', 'frozen'):\n"
        "        out[name] = spec.origin\n"
        "    else:\n"
        "        out[name] = list(spec.submodule_search_locations or [None])[0]\n"
        "print(json.dumps(out))\n"
    )


def misplaced_imports(report: dict[str, str | None], worktree: Path) -> list[str]:
    """Names from :func:`import_check_script` output that would not be imported from ``worktree``."""
    worktree = worktree.resolve()
    wrong = []
    for name, origin in sorted(report.items()):
        if origin is None or origin.startswith("error:") or _inside(Path(origin), worktree) is None:
            wrong.append(f"{name} -> {origin}")
    return wrong
