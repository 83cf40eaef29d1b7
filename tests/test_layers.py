"""The tree shows the layers, and the layers hold: import-linter's contracts (pyproject.toml), no SQL
outside the store package, no module over 400 lines, a short engine/ top level."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_TOP_LEVEL_MODULES = 12
#: SQL as the store writes it: upper-case statements (prose like "select ... from" is not SQL).
SQL = re.compile(r"\b(SELECT\b[\s\S]+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                 r"CREATE\s+(TABLE|INDEX)|PRAGMA\s+\w+)\b")


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "bundled/tasks" not in p.as_posix())


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, 'lint-imports is not installed: pip install -e ".[dev]" (import-linter is a dev dependency)'
    return subprocess.run([exe, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})


def test_the_import_contracts_hold():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "2 kept, 0 broken" in out.stdout


def test_an_upward_import_breaks_the_layers_contract(tmp_path):
    """The contract can fail: the core importing the scheduler is reported, with the line."""
    for part in ("engine", "tui"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", "tasks"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    errors = tmp_path / "engine" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom ..run import scheduler  # noqa\n")
    out = _lint_imports(tmp_path)
    assert out.returncode == 1, out.stdout[-2000:]
    assert "engine.core.errors -> engine.run.scheduler" in out.stdout


def _sql_strings(path: Path) -> list[str]:
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    for tok in tokens:
        if tok.type == tokenize.STRING and SQL.search(tok.string):
            found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string[:60]!r}")
    return found


def test_no_sql_outside_the_store_package():
    offenders = [hit for p in _sources("engine", "tui") if "engine/store/" not in p.as_posix()
                 for hit in _sql_strings(p)]
    assert offenders == [], "SQL belongs in engine/store (add a reader or writer method):\n" + "\n".join(offenders)
    assert _sql_strings(ROOT / "engine" / "store" / "reader.py"), "the pattern no longer finds the store's own SQL"


def test_no_module_is_over_400_lines():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in _sources("engine", "tui")}
    over = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert over == {}, f"split these by what they hold: {over}"


def test_engine_top_level_holds_at_most_a_dozen_modules():
    modules = sorted(p.name for p in (ROOT / "engine").glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
