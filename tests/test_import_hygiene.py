"""engine/ is the headless core: importing any of it must never import textual or tui/."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[1]


def engine_modules() -> list[str]:
    return sorted(
        m.name for m in pkgutil.walk_packages(engine.__path__, prefix="engine.") if not m.name.endswith("__main__")
    )


def import_each(modules: list[str]) -> tuple[list[str], list[str]]:
    """Import ``modules`` one by one in a fresh interpreter: (those that failed, with why; the UI
    modules, textual's or tui's, that the imports pulled in)."""
    script = (
        "import importlib, json, sys\n"
        "failed = []\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "ui = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui'))\n"
        "print(json.dumps([failed, ui]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert out.returncode == 0, out.stderr
    failed, ui = json.loads(out.stdout.strip().splitlines()[-1])
    return failed, ui


def test_engine_never_imports_the_ui():
    modules = engine_modules()
    assert "engine.run.scheduler" in modules and "engine.cli" in modules
    failed, ui = import_each(modules)
    assert failed == [], failed
    assert ui == [], f"engine imported UI modules: {ui}"


def test_every_module_of_engine_and_tui_imports():
    """Run in the environment the README's install made (CI's is a fresh virtualenv): a module
    importing a package that pyproject.toml does not declare fails here, named, instead of
    failing a user's `ramp report` at the end of a run."""
    import tui

    modules = engine_modules() + sorted(
        m.name for m in pkgutil.walk_packages(tui.__path__, prefix="tui.") if not m.name.endswith("__main__")
    )
    failed, _ = import_each(modules)
    assert failed == [], "modules that do not import here:\n" + "\n".join(failed)


def test_no_engine_source_mentions_the_ui():
    offenders = []
    for path in (ROOT / "engine").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import textual", "from textual", "import tui", "from tui")):
                offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert offenders == []
