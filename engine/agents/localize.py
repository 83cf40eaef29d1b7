"""Find the files an issue is about, from the issue text and the repository alone.

The direct-edit agent reads whole files, so it can afford only a few: the ranking decides what the
model sees. Evidence, strongest first: a traceback frame or a path quoted in the issue, a dotted
module name, an identifier from the issue's code that the file *defines* (``def``/``class``/top-level
assignment), an identifier it merely mentions, and words of the issue that appear in the path. Test
files and documents are kept but ranked down: the fix is rarely there, yet they are better than
nothing for a repository whose issue names only tests.

Identifiers are found with one ``git grep`` inside the sandbox, so this works the same in a local
checkout and in a container, and costs one command however large the repository is.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from ..core.feedback import is_test_path
from ..sandbox.base import Sandbox

_FRAME = re.compile(r'File "([^"]+)", line \d+')
_PATHLIKE = re.compile(r"(?<![\w/.])([\w\-]+(?:/[\w\-.]+)*\.(?:py|pyi|json|toml|cfg|ini|ya?ml|txt|rst|md))\b")
_DOTTED = re.compile(r"\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\b")
_CODE_SPAN = re.compile(r"```.*?```|`[^`\n]+`|^\s*>>>.*$", re.S | re.M)
_FENCE_TAG = re.compile(r"```[\w+-]*")
_IDENT = re.compile(r"\b[A-Za-z_]\w{2,}\b")
_CODEY_WORD = re.compile(r"\b(?:[a-z]+_\w+|[a-z]+[A-Z]\w*|[A-Z][a-z]+[A-Z]\w*)\b")
_WORD = re.compile(r"[a-z]{4,}")
_DEFINES = re.compile(r"^\s*(?:async\s+def|def|class)\s+(\w+)|^(\w+)\s*(?::[^=]*)?=")

#: Words that say nothing about where code lives.
_STOP = frozenset(
    "self none true false return import from with that this have when what should would there which "
    "their then than also into only some like does used using value values expected error raise "
    "raises print python test tests file files line lines code call calls work works example".split()
)
_KEYWORDS = frozenset(
    "def class return import from none true false self cls lambda yield async await pass with "
    "assert raise print str int float list dict set tuple len range bool type object".split()
)
_MAX_IDENTIFIERS = 40


@dataclass
class Candidate:
    """A file and why it was ranked where it is."""

    path: str
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)

    def add(self, points: float, reason: str) -> None:
        self.score += points
        self.reasons.append(reason)


@dataclass
class IssueClues:
    """What the issue text says about where the code is."""

    frames: list[str]
    paths: list[str]
    modules: list[str]
    identifiers: list[str]
    words: set[str]


def read_clues(text: str) -> IssueClues:
    """Pull paths, traceback frames, dotted names, identifiers and plain words out of an issue."""
    code = _FENCE_TAG.sub(" ", " ".join(m.group(0) for m in _CODE_SPAN.finditer(text)))
    idents = [i for i in _IDENT.findall(code) if i.lower() not in _KEYWORDS]
    idents += _CODEY_WORD.findall(_CODE_SPAN.sub(" ", text))
    return IssueClues(
        frames=_FRAME.findall(text),
        paths=_PATHLIKE.findall(text),
        modules=[m for m in _DOTTED.findall(text) if not _PATHLIKE.fullmatch(m)],
        identifiers=list(dict.fromkeys(idents))[:_MAX_IDENTIFIERS],
        words={w for w in _WORD.findall(text.lower()) if w not in _STOP},
    )


def _module_paths(dotted: str) -> list[str]:
    """``pkg.mod.func`` may be pkg/mod.py, pkg/mod/__init__.py, or pkg/mod/func.py."""
    parts = dotted.split(".")
    out = []
    for cut in range(len(parts), 1, -1):
        stem = "/".join(parts[:cut])
        out += [stem + ".py", stem + "/__init__.py"]
    return out


async def _grep(sandbox: Sandbox, identifiers: list[str], files: list[str]) -> dict[str, tuple[set[str], set[str]]]:
    """path -> (identifiers it defines, identifiers it mentions), from one git grep."""
    if not identifiers:
        return {}
    patterns = " ".join(f"-e {shlex.quote(i)}" for i in identifiers)
    result = await sandbox.run(f"git grep --untracked -n -w -I -F {patterns}", timeout=60)
    wanted = set(files)
    found: dict[str, tuple[set[str], set[str]]] = {}
    for line in result.output.splitlines():
        path, _, rest = line.partition(":")
        if path not in wanted:
            continue
        _, _, source = rest.partition(":")
        defines, mentions = found.setdefault(path, (set(), set()))
        match = _DEFINES.match(source)
        name = (match.group(1) or match.group(2)) if match else None
        if name in identifiers:
            defines.add(name)
        mentions.update(i for i in identifiers if re.search(rf"\b{re.escape(i)}\b", source))
    return found


async def rank_files(
    sandbox: Sandbox, problem: str, files: list[str], extensions: tuple[str, ...]
) -> list[Candidate]:
    """Files of the repository with any evidence, best first."""
    clues = read_clues(problem)
    pool = {p: Candidate(p) for p in files if p.endswith(extensions)}
    for frame in clues.frames:
        for path, cand in pool.items():
            if frame.endswith("/" + path) or frame == path:
                cand.add(12, f"traceback frame {frame}")
    for quoted in dict.fromkeys(clues.paths):
        for path, cand in pool.items():
            if path == quoted or path.endswith("/" + quoted):
                cand.add(10, f"path {quoted} in the issue")
            elif path.rsplit("/", 1)[-1] == quoted.rsplit("/", 1)[-1]:
                cand.add(4, f"file name {quoted} in the issue")
    for dotted in dict.fromkeys(clues.modules):
        for path in _module_paths(dotted):
            if path in pool:
                pool[path].add(8, f"module {dotted}")
                break
    for path, (defines, mentions) in (await _grep(sandbox, clues.identifiers, list(pool))).items():
        if defines:
            pool[path].add(6 * len(defines), "defines " + ", ".join(sorted(defines)))
        if mentions - defines:
            pool[path].add(min(len(mentions - defines), 5), "mentions " + ", ".join(sorted(mentions - defines)[:5]))
    for path, cand in pool.items():
        parts = set(re.split(r"[/_.\-]", path.lower()))
        overlap = parts & clues.words
        if overlap:
            cand.add(2 * len(overlap), "path words " + ", ".join(sorted(overlap)))
    ranked = [c for c in pool.values() if c.score > 0]
    for cand in ranked:
        if is_test_path(cand.path):
            cand.score *= 0.3
        elif not cand.path.endswith((".py", ".pyi")):
            cand.score *= 0.5
    return sorted(ranked, key=lambda c: (-c.score, c.path))
