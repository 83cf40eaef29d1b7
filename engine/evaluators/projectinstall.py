"""Installing the project itself into a built environment, as the spec's ``install`` says.

The spec's install runs with pip, as written: ``install`` is usually ``python -m pip install -e .``,
and old setuptools only support editables through ``setup.py develop``, which uv does not do. So uv
first resolves the project's dependencies at the era and installs them; pip then runs the command
with ``-c <everything installed>`` added, so it only adds what is missing, and its isolated builds
are held to the era's tools and build requirements (era.py) through ``PIP_CONSTRAINT``. A project
versioned by setuptools_scm gets the version a full clone would give it (the cache has no tags).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

from ..core.errors import InfraError
from .buildsteps import BuildSteps
from .era import TOOLS, build_constraints, build_requires, pinned_name
from .steps import pip_install_target


async def install_project(
    build: BuildSteps,
    install: str,
    checkout: Path,
    explicit: list[str],
    *,
    uv: bool,
    scm_version: str | None,
) -> None:
    """Run the spec's install with pip, the project's dependencies resolved at the era first.

    uv resolves the project's dependencies at the era, holding only the tools and the spec's
    own pins, and installs them. pip then runs the spec's command with everything installed as
    constraints: it can add what uv could not resolve, but cannot move the era's versions. Its
    isolated builds are held to the era's tools only, since build requirements often pin exact
    versions (numpy for C extensions) that the runtime set would contradict.
    """
    target = pip_install_target(install)
    tools = [line for line in await build.freeze() if pinned_name(line) in TOOLS]
    pyproject = checkout / "pyproject.toml"
    pyproject_text = pyproject.read_text() if pyproject.is_file() else None
    # uv builds the project's metadata in isolation with the era's tools too: uv does not apply
    # --exclude-newer-package to build environments, and today's setuptools (no pkg_resources)
    # under an era setuptools_scm fails (pytest 4.5).
    (build.folder / "uv-build-constraints.txt").write_text(
        "".join(f"{p}\n" for p in build_constraints(tools, pyproject_text))
    )
    # The project's own name: a dependency may pull its released version from PyPI (pvlib's
    # extras do), and holding that would forbid installing the checkout.
    own = await _project_name(build, target, checkout) if uv and target else None
    if uv and target:
        await _preresolve(build, target, checkout, [*tools, *explicit], own)
    installed = [line for line in await build.freeze() if pinned_name(line) != own]
    held_for_builds = build_constraints(tools, pyproject_text)
    if build.exclude_args and (requires := build_requires(pyproject_text)):
        held_for_builds = await _era_build_requires(
            build, requires, held_for_builds, installed
        )
    (build.folder / BUILD_PINS).write_text("".join(f"{p}\n" for p in held_for_builds))
    if target and build.exclude_args:
        (build.folder / ERA_PINS).write_text("".join(f"{line}\n" for line in installed))
    command, env = pip_install(install, build.folder, scm_version)
    for attempt in range(1, 6):
        try:
            await build.step(
                "install" if attempt == 1 else f"install (try {attempt})", command, cwd=checkout, env=env
            )
            return
        except InfraError:
            tail = build.log.read_text(errors="replace")[-20_000:]
            unsatisfied = _held_unsatisfied(tail, installed)
            if command == install or not (CONFLICT.search(tail) or unsatisfied):
                raise
        # The project asks for versions the spec's pins or the era's resolution contradict (sphinx
        # 4.0's pre_install rewrites setup.py to Jinja2<3.0 while the spec pins Jinja2==3.0.3):
        # the harness's pip lets the project win. Release the pins pip names, or all of them.
        named = {pinned_name(f"{n}==0") for n in _CONSTRAINED.findall(tail)} | unsatisfied
        held = [line for line in installed if pinned_name(line) not in named]
        build.warnings.append(
            "the install's requirements contradict pins held from before it "
            f"({', '.join(sorted(n for n in named if n)) or 'unnamed'}); pip let the project win, "
            "as in the harness (see build.log)"
        )
        if named and len(held) < len(installed):
            installed = held
            (build.folder / ERA_PINS).write_text("".join(f"{line}\n" for line in installed))
            command, env = pip_install(install, build.folder, scm_version)
        else:
            command, env = pip_install(install, build.folder, scm_version, hold=False)
    raise build.failure("step 'install' still conflicts with the held pins after releasing them")


#: pip naming a held pin in a conflict: "The user requested (constraint) jinja2==3.0.3".
_CONSTRAINED = re.compile(r"The user requested \(constraint\) ([A-Za-z0-9_.\-]+)")
#: pip's legacy resolver (pip < 20.3, the era's) saying the same: "Could not find a version that
#: satisfies the requirement Jinja2<3.0" when a constraint holds jinja2==3.0.3.
_UNSATISFIED = re.compile(r"Could not find a version that satisfies the requirement ([A-Za-z0-9_.\-]+)")


def _held_unsatisfied(tail: str, held: list[str]) -> set[str | None]:
    """The held packages pip says it could not satisfy (a constraint against the project)."""
    names = {pinned_name(line) for line in held}
    return {n for n in (pinned_name(f"{m}==0") for m in _UNSATISFIED.findall(tail)) if n in names}
#: pip's words for a resolution the constraints make impossible.
CONFLICT = re.compile(r"ResolutionImpossible|conflicting dependencies")


#: Beside a build's venv: pins for pip's isolated builds, and everything the build installed.
BUILD_PINS = "build-constraints.txt"
ERA_PINS = "era-constraints.txt"


def pip_install(
    install: str, folder: Path, scm_version: str | None, *, hold: bool = True,
    extra: Path | None = None,
) -> tuple[str, dict[str, str]]:
    """The spec's install command as Ramp runs it, and its variables: held to what the build
    ``folder`` installed (``-c era-constraints.txt``, so pip only adds what is missing), its
    isolated builds held to the era's build pins, and a setuptools_scm project given its version.
    The same for the environment's own install and for an install at a base commit (overlay.py)."""
    build_pins = folder / BUILD_PINS
    # Older pips hold isolated builds to PIP_CONSTRAINT; pip 25.3+ reads PIP_BUILD_CONSTRAINT
    # (and refuses it together with --no-build-isolation).
    env = {"PIP_CONSTRAINT": str(build_pins)} if build_pins.exists() else {}
    if build_pins.exists() and "--no-build-isolation" not in install:
        env["PIP_BUILD_CONSTRAINT"] = str(build_pins)
    if scm_version:
        # The harness installs from a full clone, so setuptools_scm finds the tags; a
        # depth-1 fetch has none, and would make pytest 8.0 into pytest 0.1.dev1.
        env["SETUPTOOLS_SCM_PRETEND_VERSION"] = scm_version
    command = install
    if hold and pip_install_target(install) and (folder / ERA_PINS).exists():
        option = f"pip install -c {shlex.quote(str(folder / ERA_PINS))}"
        if extra is not None:
            option += f" -c {shlex.quote(str(extra))}"
        command = re.sub(r"\bpip\s+install\b", lambda _: option, install, count=1)
    return command, env


async def _era_build_requires(
    build: BuildSteps, requires: list[str], tool_pins: list[str], installed: list[str]
) -> list[str]:
    """The project's build requirements resolved as of the era, as pins for pip's isolated
    builds: held to what is installed where they can be (older pips apply PIP_CONSTRAINT to the
    install itself too, so a build pin must not contradict an installed version), else to the
    era's tools the project allows; the tool pins alone if uv cannot resolve them."""
    (build.folder / "build-requires.in").write_text("".join(f"{r}\n" for r in requires))
    tools = {pinned_name(p): p for p in tool_pins}
    runtime = {pinned_name(p): p for p in installed if pinned_name(p) not in TOOLS}
    attempts = [[*tool_pins, *runtime.values()], tool_pins, []]

    def compile_with(index: int, held: list[str]) -> Callable[[], list[str]]:
        held_file = build.folder / f"build-held-{index}.txt"
        held_file.write_text("".join(f"{p}\n" for p in held))
        return lambda: [
            *build.uv("compile"), "--no-header", "--no-annotate", "--quiet",
            "-c", str(held_file), *build.exclude_args, str(build.folder / "build-requires.in"),
        ]  # fmt: skip

    for index, held in enumerate(attempts):
        try:
            output = await build.at_era("resolve build requirements", compile_with(index, held))
        except InfraError:
            continue
        resolved = {pinned_name(line): line for line in output.splitlines() if pinned_name(line)}
        merged = {**tools, **resolved}
        return [pin for name, pin in merged.items() if runtime.get(name, pin) == pin]
    build.warnings.append(
        "uv could not resolve the build requirements at the era; pip's isolated builds "
        "took today's versions of everything but the tools (see build.log)"
    )
    return tool_pins


def _uv_build_pins(build: BuildSteps) -> list[str]:
    """uv's option holding its isolated builds of the project to the era's tools."""
    pins = build.folder / "uv-build-constraints.txt"
    return ["--build-constraint", str(pins)] if pins.exists() else []


async def _project_name(
    build: BuildSteps, target: tuple[str, bool], checkout: Path
) -> str | None:
    isolation = ["--no-build-isolation"] if target[1] else []
    command = [*build.uv("install"), "--dry-run", "--no-deps", *isolation, *_uv_build_pins(build),
               str(checkout)]  # fmt: skip
    try:
        output = await build.step("project name", [*command, *build.exclude_args])
    except InfraError:
        return None
    match = re.search(r"^ \+ ([A-Za-z0-9_.\-]+)", output, re.M)
    return pinned_name(f"{match.group(1)}==0") if match else None


async def _preresolve(
    build: BuildSteps,
    target: tuple[str, bool],
    checkout: Path,
    held: list[str],
    own: str | None,
) -> None:
    """Install the project's dependencies at the era with uv, so pip finds them satisfied.

    uv builds the project's metadata to read them; when it cannot (sphinx 3.x's setup.cfg dates
    its version, ``3.1.2.dev-20261128``, which uv refuses as not PEP 440), they are read with the
    environment's own setuptools (``setup.py egg_info``) and resolved from that list instead.
    """
    path, no_isolation = target
    extras = path[path.index("[") :] if "[" in path else ""
    (build.folder / "project.in").write_text(f"{checkout}{extras}\n")
    def command() -> list[str]:
        return [
            *build.uv("compile"), "--no-header", "--no-annotate", "--quiet",
            "-c", str(build.folder / "held.txt"), *build.exclude_args,
            *(["--no-build-isolation"] if no_isolation else []), *_uv_build_pins(build),
            str(build.folder / "project.in"),
        ]  # fmt: skip

    output = None
    tools = [line for line in held if pinned_name(line) in TOOLS]
    pinned_era = build.exclude_args
    # The spec's pins may contradict the project's own requirements (the harness's pip lets the
    # project win): the second try holds the tools only, and lets the other pins go back to the
    # era instead of to today (an exempt pin no longer held would resolve to today's release).
    for attempt, (hold, era) in enumerate(((held, pinned_era), (tools, build.era_only or pinned_era))):
        (build.folder / "held.txt").write_text("".join(f"{line}\n" for line in hold))
        build.exclude_args = list(era)
        name = "resolve project dependencies" + (" (tools held)" if attempt else "")
        try:
            output = await build.at_era(name, command)
        except InfraError:
            if await _declared_requirements(build, checkout, extras):
                try:
                    output = await build.at_era("resolve declared requirements", command)
                except InfraError:
                    output = None
            (build.folder / "project.in").write_text(f"{checkout}{extras}\n")
        if output is not None:
            if attempt:
                build.warnings.append(
                    "the project's requirements contradict the spec's pins; its dependencies were "
                    "resolved at the era holding only the tools, and the project won, as in the harness"
                )
            break
    # Relaxations found on the way stay; the spec's pins stay exempt for what follows.
    build.exclude_args = [*pinned_era, *build.exclude_args[len(era):]]
    if output is None:
        build.warnings.append(
            "uv could not resolve the project's dependencies at the era; pip added the missing "
            "ones at today's versions, holding everything already installed (see build.log)"
        )
        return
    if pinned := [line for line in output.splitlines() if pinned_name(line) not in (None, own)]:
        (build.folder / "project-deps.txt").write_text("\n".join(pinned) + "\n")
        await build.install(
            "project dependencies", ["-r", str(build.folder / "project-deps.txt")]
        )


async def _declared_requirements(build: BuildSteps, checkout: Path, extras: str) -> bool:
    """Write the project's requirements (with ``extras``), read by ``setup.py egg_info`` with the
    environment's setuptools, to project.in in place of the project. False without a setup.py or
    when egg_info fails."""
    if not (checkout / "setup.py").is_file():
        return False
    egg_base = build.folder / "egg-info"
    egg_base.mkdir(exist_ok=True)
    try:
        await build.step(
            "read declared requirements",
            [str(build.python), "setup.py", "-q", "egg_info", "--egg-base", str(egg_base)],
            cwd=checkout,
        )
    except InfraError:
        return False
    requires = next(egg_base.glob("*.egg-info/requires.txt"), None)
    wanted = {e.strip().lower() for e in extras.strip("[]").split(",") if e.strip()}
    lines = requires_lines(requires.read_text() if requires else "", wanted)
    (build.folder / "project.in").write_text("".join(f"{line}\n" for line in lines))
    return True


def requires_lines(text: str, extras: set[str]) -> list[str]:
    """Requirement lines of an egg-info ``requires.txt``: the unconditional ones, those of the
    ``extras`` asked for, and those under a ``[:marker]`` section with the marker attached."""
    out: list[str] = []
    section: tuple[str, str] | None = ("", "")
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            extra, _, marker = line[1:-1].partition(":")
            section = (extra.strip().lower(), marker.strip()) if (not extra or extra.strip().lower() in extras) else None
            continue
        if section is not None:
            out.append(f"{line}; {section[1]}" if section[1] else line)
    return out
