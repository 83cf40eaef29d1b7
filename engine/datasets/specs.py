"""Install/test specs and log parsers per (repo, version).

The upstream table comes from swebench 4.1 (``MAP_REPO_VERSION_TO_SPECS`` and ``MAP_REPO_TO_PARSER``).
Why 4.1 and not 5.x: 5.x dropped that table and its ``make_test_spec`` expects rows carrying image and
eval-script fields, while every published SWE-bench/Lite/Verified row still has the classic twelve
fields. 4.1 grades those rows with the same parsers and grading functions the leaderboard used.

Ramp's own bundled repositories (``ramp-bundled/*``) register their specs here too, so evaluators look
every repo up in one place and grade every log with swebench's own code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..core.errors import ConfigError

#: repo -> version -> spec, added at run time (bundled tasks, user-supplied specs).
_EXTRA_SPECS: dict[str, dict[str, dict[str, Any]]] = {}
#: repo -> name of a parser in swebench.harness.log_parsers (e.g. "parse_log_pytest").
_EXTRA_PARSERS: dict[str, str] = {}

#: Repos whose specs live in a Ramp module, imported the first time one of them is asked for.
_LAZY_PREFIXES = {"ramp-bundled/": "engine.datasets.bundled"}


def register(repo: str, versions: dict[str, dict[str, Any]], parser: str = "parse_log_pytest") -> None:
    """Add specs for a repo that upstream does not know, graded by an upstream parser."""
    _EXTRA_SPECS.setdefault(repo, {}).update(versions)
    _EXTRA_PARSERS[repo] = parser


def export_to_swebench(repo: str) -> None:
    """Make swebench's own grading functions know ``repo`` when Ramp registered it.

    ``swebench.harness.grading.get_logs_eval`` looks the repo up in swebench's module-level
    ``MAP_REPO_VERSION_TO_SPECS`` and ``MAP_REPO_TO_PARSER``. Copying Ramp's extra specs into those
    tables (lazily, the first time a repo is graded) lets those functions grade Ramp's repos
    unchanged, instead of re-implementing them. Upstream repos are left untouched.
    """
    _load_lazy(repo)
    if repo not in _EXTRA_SPECS:
        return
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS
    from swebench.harness.log_parsers import MAP_REPO_TO_PARSER

    MAP_REPO_VERSION_TO_SPECS.setdefault(repo, {}).update(_EXTRA_SPECS[repo])
    MAP_REPO_TO_PARSER[repo] = get_parser(repo)


def _load_lazy(repo: str) -> None:
    for prefix, module in _LAZY_PREFIXES.items():
        if repo.startswith(prefix) and repo not in _EXTRA_SPECS:
            importlib.import_module(module)


def _upstream_specs() -> dict[str, dict[str, dict[str, Any]]]:
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

    return MAP_REPO_VERSION_TO_SPECS


def get_spec(repo: str, version: str) -> dict[str, Any]:
    """The spec for (repo, version): python, install, pip_packages, test_cmd, ..."""
    _load_lazy(repo)
    table = _EXTRA_SPECS if repo in _EXTRA_SPECS else _upstream_specs()
    if repo not in table:
        raise ConfigError(
            f"no install/test spec for repo {repo!r}; swebench 4.1 knows "
            f"{len(_upstream_specs())} repos and Ramp adds ramp-bundled/*",
            field="repo",
        )
    versions = table[repo]
    if version not in versions:
        known = ", ".join(sorted(versions)[:12])
        raise ConfigError(
            f"no spec for {repo} version {version!r}; known versions: {known}", field="version"
        )
    return versions[version]


def get_parser(repo: str) -> Callable[[str, Any], dict[str, str]]:
    """The swebench log parser for a repo: (log_text, test_spec) -> {test: status}."""
    _load_lazy(repo)
    from swebench.harness.log_parsers import MAP_REPO_TO_PARSER, python

    if repo in _EXTRA_PARSERS:
        return getattr(python, _EXTRA_PARSERS[repo])
    if repo not in MAP_REPO_TO_PARSER:
        raise ConfigError(f"no log parser for repo {repo!r}", field="repo")
    return MAP_REPO_TO_PARSER[repo]


def known_repo(repo: str) -> bool:
    _load_lazy(repo)
    return repo in _EXTRA_SPECS or repo in _upstream_specs()


def ramp_registered(repo: str) -> bool:
    """True for a repo whose spec Ramp registered (bundled, user-supplied): no official image has it."""
    _load_lazy(repo)
    return repo in _EXTRA_SPECS
