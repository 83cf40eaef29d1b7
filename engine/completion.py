"""``ramp completion bash|zsh|fish``: shell completion for commands, flags, run ids and model ids.

The script it prints is a thin wrapper: on every TAB it calls ``ramp completion --complete WORD..``
with the words typed so far, and this module answers from the real argument parser (so a new
command or flag completes without touching the scripts), the store's run ids (``--runs-dir``,
``$RAMP_RUNS_DIR`` or ./runs) and the model catalog's ids.

    eval "$(ramp completion bash)"      # in ~/.bashrc
    eval "$(ramp completion zsh)"       # in ~/.zshrc
    ramp completion fish > ~/.config/fish/completions/ramp.fish
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path
from typing import Any

#: Commands whose first positional argument is a run id (``runs`` actions: show, rm).
RUN_ID_FIRST = {"watch", "ctl", "status", "report", "compare", "export", "show", "rm"}

SCRIPTS = {
    "bash": """_ramp() {
  local IFS=$'\\n'
  COMPREPLY=($(ramp completion --complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _ramp ramp
""",
    "zsh": """_ramp() {
  local -a found
  found=("${(@f)$(ramp completion --complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a found
}
compdef _ramp ramp
""",
    "fish": """complete -c ramp -f -a '(ramp completion --complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
""",
}


def add_parser(sub: Any) -> None:
    completion = sub.add_parser("completion", help="print a shell completion script: bash, zsh or fish")
    completion.add_argument("shell", nargs="?", choices=sorted(SCRIPTS))
    completion.add_argument("--complete", nargs=argparse.REMAINDER, metavar="WORD",
                            help="the words typed after `ramp` (the last one unfinished): print candidates")  # fmt: skip


def cmd_completion(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.complete is not None:
        print("\n".join(candidates(parser, args.complete)))
        return 0
    if args.shell is None:
        parser.error("ramp completion: name a shell (bash, zsh or fish)")
    print(SCRIPTS[args.shell], end="")
    return 0


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings if s.startswith("--")]


def candidates(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """What may come next after ``ramp WORDS[:-1]``, starting with ``WORDS[-1]``."""
    current, before = (words[-1], words[:-1]) if words else ("", [])
    chain, after = [parser], 0
    for i, word in enumerate(before):  # follow the subcommands typed so far
        nested = _subcommands(chain[-1])
        if word in nested:
            chain.append(nested[word])
            after = i + 1
    deepest, typed = chain[-1], before[after:]
    previous = before[-1] if before else ""
    if previous == "--model":
        options = model_ids(before)
    elif previous in ("--run-id",) or (
        not current.startswith("-") and deepest.prog.split()[-1] in RUN_ID_FIRST and _positionals(deepest, typed) == 0
    ):
        options = run_ids(before)
    elif current.startswith("-"):
        options = _flags(deepest)
    elif nested := _subcommands(deepest):
        options = list(nested)
    else:  # the next positional's choices (`ramp ctl RUN <action>`), if it has any
        slots = [a for a in deepest._actions if not a.option_strings and a.dest != "help"]
        index = _positionals(deepest, typed)
        options = [str(c) for c in slots[index].choices or ()] if index < len(slots) else []
    return sorted(o for o in options if o.startswith(current))


def _positionals(parser: argparse.ArgumentParser, typed: list[str]) -> int:
    """Positional words typed after the last subcommand, not counting flags and their values (so
    `ramp ctl RUN` does not offer runs again, and `ramp status --runs-dir D` still does)."""
    takes_value = {s for a in parser._actions if a.nargs != 0 for s in a.option_strings}
    count, skip = 0, False
    for word in typed:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in takes_value
        else:
            count += 1
    return count


def _flag_value(words: list[str], flag: str) -> str | None:
    return next((words[i + 1] for i, w in enumerate(words[:-1]) if w == flag), None)


def run_ids(words: list[str]) -> list[str]:
    from .store import StoreReader

    runs_dir = Path(_flag_value(words, "--runs-dir") or os.environ.get("RAMP_RUNS_DIR") or "runs")
    if not (runs_dir / "ramp.sqlite").exists():
        return []
    try:
        with StoreReader(runs_dir / "ramp.sqlite") as reader:
            return reader.run_ids()
    except sqlite3.Error:
        return []


def model_ids(words: list[str]) -> list[str]:
    from .core.errors import RampError
    from .models.catalog import DEFAULT_CATALOG, load_catalog

    try:
        return sorted(load_catalog(DEFAULT_CATALOG).models)
    except (RampError, OSError):
        return []
