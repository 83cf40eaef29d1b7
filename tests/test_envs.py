"""Environment building: era pinning, requirement files from the clone, import layouts, locking."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.evaluators.base import EvalRequest
from engine.evaluators.era import (
    build_constraints,
    environment_era,
    exclude_newer_args,
    relaxation,
)
from engine.evaluators.imports import find_layout
from engine.evaluators.local import LocalEvaluator, LocalEvaluatorConfig
from engine.evaluators.requirements import (
    conda_to_pip,
    package_list,
    read_environment_yml,
    read_requirements,
)
from engine.evaluators.steps import pip_install_target, split_steps
from engine.workspace.pythons import find_python, missing_python_message
from tests.evalhelpers import CalcRepo, git, make_calc_repo

ROOT = Path(__file__).resolve().parents[1]


def test_host_changing_steps_are_skipped_with_the_variables_they_set() -> None:
    run, skipped = split_steps(
        [
            "apt-get update && apt-get install -y locales",
            'QHULL_URL="http://www.qhull.org/download/qhull-2020-src-8.0.2.tgz"',
            'QHULL_TAR="/tmp/qhull-2020-src-8.0.2.tgz"',
            'QHULL_BUILD_DIR="/testbed/build"',
            'wget -O "$QHULL_TAR" "$QHULL_URL"',
            'mkdir -p "$QHULL_BUILD_DIR"',
            'tar -xvzf "$QHULL_TAR" -C "$QHULL_BUILD_DIR"',
            "sed -i 's/pytest/pytest -rA/' tox.ini",
            "export LANG=en_US.UTF-8",
        ]
    )
    assert run == [
        'QHULL_TAR="/tmp/qhull-2020-src-8.0.2.tgz"',
        "sed -i 's/pytest/pytest -rA/' tox.ini",
        "export LANG=en_US.UTF-8",
    ]
    assert len(skipped) == 6


@pytest.mark.parametrize(
    ("install", "target"),
    [
        ("python -m pip install -e .", (".", False)),
        ("python -m pip install -e '.[dev]'", (".[dev]", False)),
        ("python -m pip install -e .[test] --verbose", (".[test]", False)),
        ("python -m pip install -v --no-use-pep517 --no-build-isolation -e .", (".", True)),
        ("python -m pip install .", (".", False)),
        ("python setup.py install", None),
    ],
)
def test_pip_install_target(install: str, target: tuple[str, bool] | None) -> None:
    assert pip_install_target(install) == target


def test_conda_specs_become_pip_requirements() -> None:
    assert conda_to_pip("numpy=1.21") == "numpy==1.21"
    assert conda_to_pip("numpy=1.21=py39h_0") == "numpy==1.21"
    assert conda_to_pip("conda-forge::scipy>=1.5") == "scipy>=1.5"
    assert conda_to_pip("python=3.9") is None and conda_to_pip("cxx-compiler") is None
    assert package_list("'numpy==1.19.2' 'pandas<2.0.0' pytest") == [
        "numpy==1.19.2",
        "pandas<2.0.0",
        "pytest",
    ]


@pytest.fixture
def bare_with_requirements(tmp_path: Path) -> tuple[Path, str]:
    work = tmp_path / "work"
    (work / "requirements").mkdir(parents=True)
    (work / "ci" / "requirements").mkdir(parents=True)
    (work / "requirements" / "dev.txt").write_text(
        "-r tests.txt\n# comment\n-e .\nflake8==3.7\ntypes-pkg_resources\n"
    )
    (work / "requirements" / "tests.txt").write_text("pytest<8\n.[test]\n")
    (work / "ci" / "requirements" / "environment.yml").write_text(
        "name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.10\n  - numpy=1.23\n  - pip\n"
        "  - pip:\n      - pytest-env\n      - types-pkg_resources\n"
    )
    git(work, "init", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "reqs")
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare, git(work, "rev-parse", "HEAD").strip()


async def test_requirements_are_read_from_the_clone_with_includes_and_exclusions(
    bare_with_requirements: tuple[Path, str],
) -> None:
    bare, commit = bare_with_requirements
    text = await read_requirements(
        bare, "pallets/flask", commit
    )  # swebench reads requirements/dev.txt
    assert text.split() == ["pytest<8", "flake8==3.7", "types-setuptools"]


async def test_environment_yml_gives_its_pip_installable_dependencies(
    bare_with_requirements: tuple[Path, str],
) -> None:
    bare, commit = bare_with_requirements
    requirements = await read_environment_yml(bare, "pydata/xarray", commit)
    assert requirements == ["numpy==1.23", "pytest-env", "types-setuptools"]


def test_missing_python_names_the_version_the_places_and_the_fix() -> None:
    assert find_python("3.11", ["pyenv", "uv", "path"]) is not None
    assert find_python("3.4", ["pyenv", "uv", "path"]) is None
    message = missing_python_message("3.4", ["pyenv", "path"])
    assert "Python 3.4 not found" in message and "python3.4 on PATH" in message
    assert "`pyenv install 3.4`" in message and "`uv python install 3.4`" in message


def _venv_with(tmp_path: Path, project: Path, *install: str) -> Path:
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        ["uv", "pip", "install", "-q", "--python", str(venv / "bin/python"), "setuptools"],
        check=True,
    )
    subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin/python"),
            "--no-build-isolation",
            *install,
        ],
        check=True,
    )
    return next(venv.glob("lib/python*/site-packages"))


def _flat_project(root: Path) -> Path:
    (root / "flatpkg").mkdir(parents=True)
    (root / "flatpkg" / "__init__.py").write_text("")
    (root / "tests").mkdir()
    (root / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='flatpkg', version='1', packages=['flatpkg'])\n"
    )
    return root


def test_layout_of_a_flat_editable_install(tmp_path: Path) -> None:
    project = _flat_project(tmp_path / "flat")
    layout = find_layout(_venv_with(tmp_path, project, "-e", str(project)), project)
    assert layout.roots == ["."] and layout.top_level == ["flatpkg"]


def test_layout_of_a_plain_install_is_found_through_direct_url(tmp_path: Path) -> None:
    project = _flat_project(tmp_path / "flat")
    layout = find_layout(_venv_with(tmp_path, project, str(project)), project)
    assert layout.roots == ["."] and layout.top_level == ["flatpkg"]


async def test_era_pinning_resolves_as_of_the_setup_commit_and_spec_pins_win(
    tmp_path: Path,
) -> None:
    calc = make_calc_repo(tmp_path / "repo")
    work = calc.root / "work"
    (work / "NOTE").write_text("an old commit\n")
    git(work, "add", "NOTE")
    subprocess.run(
        ["git", "commit", "-qm", "old"],
        cwd=work,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "GIT_COMMITTER_DATE": "2025-01-01T00:00:00Z",
            "PATH": "/usr/bin:/bin",
        },
    )
    old = git(work, "rev-parse", "HEAD").strip()
    git(work, "push", "-q", str(calc.root / "mirror" / "ramp-tests+calc"), "main")
    instance = calc.instance(
        instance_id="ramp-tests__calc-era", base_commit=old, environment_setup_commit=old
    )
    evaluator = LocalEvaluator(
        LocalEvaluatorConfig(), cache_dir=tmp_path / "cache", repo_source=calc.source
    )
    result = await evaluator.evaluate(
        EvalRequest(instance=instance, patch=calc.gold, log_dir=tmp_path / "log")
    )
    assert result.resolved, result.detail
    env, built = await evaluator.envs.get(instance)
    assert not built and env.era == "2025-01-01T00:00:00Z"
    frozen = subprocess.run(
        ["uv", "pip", "freeze", "--python", str(env.python)], capture_output=True, text=True
    ).stdout
    versions = dict(line.split("==") for line in frozen.split() if "==" in line)
    assert versions["pytest"] == "8.3.5"  # the spec's pin wins over the era, exempt up front
    assert not any("pytest" in w for w in env.warnings)  # so nothing had to be relaxed
    assert versions["pip"].startswith("24.")  # pip as of 2025-01-01 (25.0 came out on 2025-01-26)


def test_two_processes_build_one_environment(tmp_path: Path) -> None:
    calc: CalcRepo = make_calc_repo(tmp_path / "repo")
    script = textwrap.dedent(
        f"""
        import anyio, json, sys
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from engine.evaluators.base import EvalRequest
        from engine.evaluators.local import LocalEvaluator, LocalEvaluatorConfig
        from tests.evalhelpers import CalcRepo
        calc = CalcRepo(Path({str(calc.root)!r}), {calc.base_commit!r}, {calc.gold!r}, {calc.test_patch!r}, {calc.source!r})
        async def main():
            ev = LocalEvaluator(LocalEvaluatorConfig(), cache_dir=Path({str(tmp_path / "cache")!r}), repo_source=calc.source)
            r = await ev.evaluate(EvalRequest(instance=calc.instance(), patch=calc.gold, log_dir=Path(sys.argv[1])))
            print(json.dumps({{"resolved": r.resolved, "builds": ev.envs.builds}}))
        anyio.run(main)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / f"log{i}")],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for i in range(2)
    ]
    outputs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert [o["resolved"] for o in outputs] == [True, True]
    assert sum(o["builds"] for o in outputs) == 1
    assert len(list((tmp_path / "cache" / "envs").glob("*/build-*"))) == 1


def test_the_era_is_never_older_than_the_interpreter_and_exempt_packages_are_let_through() -> None:
    """requests 0.14 (2012) on Python 3.9: an era-2012 pytest has no `pytest` command; xarray 0.12
    (2019) on Python 3.10: an era-2019 numpy has no wheel and does not build."""
    assert environment_era("2012-09-13T06:36:36Z", "3.9") == "2020-12-07T00:00:00Z"
    assert environment_era("2023-05-01T00:00:00Z", "3.9") == "2023-05-01T00:00:00Z"
    assert environment_era("2012-09-13T06:36:36Z", "2.7") == "2012-09-13T06:36:36Z"  # unknown: as is
    args = exclude_newer_args("2020-12-07T00:00:00Z", ["atomicwrites"])
    assert args[:2] == ["--exclude-newer", "2020-12-07T00:00:00Z"]
    assert any(a.startswith("atomicwrites=") for a in args)


def test_every_package_the_spec_pins_is_exempt_from_the_era_tools_included() -> None:
    """pytest 4.4's spec pins setuptools==68.0.0 and seaborn's contourpy==1.1.0: both newer than
    their era; the pins must win without waiting for uv to complain."""
    args = exclude_newer_args(
        "2019-01-01T00:00:00Z", [], ["setuptools==68.0.0", "contourpy==1.1.0", "numpy>=1.2"]
    )
    exempt = {a.split("=")[0] for a in args[2:] if not a.startswith("-")}
    assert exempt == {"setuptools", "contourpy"}


def test_uv_hint_names_the_package_to_let_past_the_era() -> None:
    output = (
        "hint: `pytest` was filtered by `exclude-newer` to only include packages uploaded before "
        "2025-01-01T00:00:00Z. The latest version satisfying the requirement is v8.3.5, published at "
        "2025-03-02T12:34:56.123Z. Consider using `exclude-newer-package` to override the cutoff."
    )
    assert relaxation(output) == "pytest=2025-03-03T12:34:56Z"  # a day on: wheels come later
    floored = (
        "hint: `setuptools` was filtered by `exclude-newer-package` to only include packages "
        "uploaded before 2020-10-05T00:00:00Z. The requested version, v68.0.0, was published at "
        "2023-06-19T15:53:03.089Z. Consider removing the setting or updating it to a later date."
    )
    assert relaxation(floored) == "setuptools=2023-06-20T15:53:03Z"  # uv's other wording
    assert relaxation("error: no solution") is None


def test_build_constraints_yield_to_the_projects_build_requirements() -> None:
    pins = ["pip==22.3.1", "setuptools==66.1.1", "wheel==0.38.4"]
    astroid = '[build-system]\nrequires = ["setuptools~=62.6", "wheel~=0.37.1"]\n'
    assert build_constraints(pins, astroid) == ["pip==22.3.1"]
    assert (
        build_constraints(pins, '[build-system]\nrequires = ["setuptools>=40.8", "wheel"]\n')
        == pins
    )
    assert build_constraints(pins, '[build-system]\nrequires = ["setuptools>=70"]\n') == [
        "pip==22.3.1",
        "wheel==0.38.4",
    ]
    assert build_constraints(pins, None) == pins


def test_a_pin_with_no_wheel_and_no_build_is_loosened_to_its_compatible_releases(tmp_path: Path) -> None:
    """xarray 0.12's environment.yml pins bottleneck==1.3.2: conda ships it built for Python 3.10,
    PyPI only as an sdist that needs numpy 1.17.3 to build, which does not build there."""
    from engine.evaluators.buildsteps import _UNBUILT, _loosen

    log = "error: Failed to download and build `bottleneck==1.3.2`\n  cause: Failed to build `numpy==1.17.3`"
    assert _UNBUILT.findall(log)[0] == ("bottleneck", "1.3.2")  # the pin named first, not its build dep
    packages = tmp_path / "packages.txt"
    packages.write_text("numpy==1.23.0\nbottleneck==1.3.2\n")
    assert _loosen(["-r", str(packages)], "bottleneck", "1.3.2")
    assert packages.read_text() == "numpy==1.23.0\nbottleneck~=1.3.2\n"
    args = ["Bottleneck==1.3.2", "pytest"]
    assert _loosen(args, "bottleneck", "1.3.2") and args[0] == "bottleneck~=1.3.2"
    assert not _loosen(["bottleneck>=1.3"], "bottleneck", "1.3.2")  # nothing pinned it: not ours


def test_declared_requirements_read_from_egg_info_keep_markers_and_the_extras_asked_for() -> None:
    """sphinx 3.x dates its version (3.1.2.dev-20261128), which uv refuses: its requirements are
    read from `setup.py egg_info` instead, then resolved at the era."""
    from engine.evaluators.projectinstall import requires_lines

    text = "Jinja2<3.0\n\n[:sys_platform==\"win32\"]\ncolorama>=0.3.5\n\n[docs]\nwebsupport\n\n[test]\npytest\n"
    assert requires_lines(text, {"test"}) == ["Jinja2<3.0", 'colorama>=0.3.5; sys_platform=="win32"', "pytest"]
    assert requires_lines(text, set()) == ["Jinja2<3.0", 'colorama>=0.3.5; sys_platform=="win32"']


def test_a_conda_only_binary_is_left_out_of_the_requirements(tmp_path: Path) -> None:
    """xarray 0.12's environment.yml lists cartopy, which needs GEOS and PROJ that conda ships:
    when no release installs from PyPI, it is left out and the tests that import it skip."""
    from engine.evaluators.buildsteps import _drop

    packages = tmp_path / "packages.txt"
    packages.write_text("numpy==1.23.0\ncartopy\nCartopy>=0.17 ; python_version>'3'\n")
    args = ["-r", str(packages), "cartopy~=0.20.3"]
    assert _drop(args, "cartopy")
    assert args == ["-r", str(packages)] and packages.read_text() == "numpy==1.23.0\n"
    assert not _drop(args, "cartopy")
    from engine.evaluators.buildsteps import _ABSENT

    absent = "cause: Because cdms2 was not found in the package registry and you require cdms2, we can"
    assert _ABSENT.search(absent).group(1) == "cdms2"  # type: ignore[union-attr]  # not on PyPI at all


async def test_installs_compile_bytecode_except_on_pythons_uvs_compiler_cannot_run(tmp_path: Path) -> None:
    """Bytecode is compiled at install, as pip does (flask's `-W error` met blinker's escape
    sequences otherwise); uv's compiler needs Python 3.7, and astropy 1.3's spec is 3.6."""
    from engine.evaluators.buildsteps import BuildSteps
    from engine.workspace.pythons import uv_binary

    python36 = find_python("3.6", ["pyenv", "uv", "path"])
    if python36 is None or uv_binary() is None:
        pytest.skip("needs Python 3.6 (pyenv install 3.6) and uv")
    results = {}
    for compile_bytecode in (True, False):
        folder = tmp_path / str(compile_bytecode)
        folder.mkdir()
        build = BuildSteps(folder, label="py36", uv=uv_binary(), timeout_s=300, tail_lines=5,
                           failure_log=folder / "failure.log")  # fmt: skip
        build.compile_bytecode = compile_bytecode
        await build.step("venv", [str(uv_binary()), "venv", "--no-config", "--python", str(python36), str(build.venv)])
        try:
            await build.install("tools", ["six==1.16.0"])
            results[compile_bytecode] = "ok"
        except Exception as exc:  # noqa: BLE001
            results[compile_bytecode] = str(exc)
    assert results[False] == "ok"
    assert "bytecode" in results[True].lower()  # why 3.6 must not compile


async def test_a_package_that_installs_but_cannot_import_is_removed(tmp_path: Path) -> None:
    """xarray 0.12's cfgrib installs from PyPI but raises RuntimeError at import without the
    ecCodes library conda ships; every xarray test module then failed to collect."""
    from engine.evaluators.buildsteps import BuildSteps
    from engine.workspace.pythons import uv_binary

    if uv_binary() is None:
        pytest.skip("needs uv")
    # nsbroken and nsfine are namespace packages (no __init__.py), as pydap 3.2 is: one whose
    # module cannot import on this Python, one whose module only lacks an optional dependency.
    for name, module, body in (
        ("needslib", "__init__.py", "raise RuntimeError('Cannot find the ecCodes library')"),
        ("optional", "__init__.py", "import not_installed_anywhere"), ("fine", "__init__.py", "x = 1"),
        ("nsbroken", "client.py", "from collections import Mapping  # gone in 3.10"),
        ("nsfine", "client.py", "import not_installed_anywhere"),
    ):  # fmt: skip
        src = tmp_path / "src" / name
        (src / name).mkdir(parents=True)
        (src / name / module).write_text(body + "\n")
        packages = f'packages = ["{name}"]\n' if module != "__init__.py" else ""
        (src / "pyproject.toml").write_text(
            f'[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "{name}"\nversion = "1.0"\n[tool.setuptools]\n{packages}'
        )
    build = BuildSteps(tmp_path / "b", label="t", uv=uv_binary(), timeout_s=300, tail_lines=5,
                       failure_log=tmp_path / "failure.log")  # fmt: skip
    build.folder.mkdir()
    await build.step("venv", [str(uv_binary()), "venv", "--no-config", "--python", sys.executable, str(build.venv)])
    names = ("needslib", "optional", "fine", "nsbroken", "nsfine")
    await build.install("packages", [str(tmp_path / "src" / n) for n in names])
    await build.drop_unimportable(["needslib>=1", "optional", "fine==1.0", "absent", "nsbroken", "nsfine"])
    site = next(build.venv.glob("lib/python*/site-packages"))
    assert sorted(d.name.split("-")[0] for d in site.glob("*.dist-info")) == ["fine", "nsfine", "optional"]
    assert len(build.warnings) == 2 and build.warnings[0].startswith("removed needslib: it installs")
    assert "RuntimeError: Cannot find the ecCodes library" in build.warnings[0]
    assert build.warnings[1].startswith("removed nsbroken: it installs")
    assert "nsbroken.client: ImportError: cannot import name 'Mapping'" in build.warnings[1]
