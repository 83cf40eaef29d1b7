"""The diffs a task carries (its gold patch and test_patch) and an agent returns, read as text.

Which files a unified diff names, and every reason it would write outside the repository (absolute
paths, ``..`` components, anything under ``.git/``, symlinks pointing out of the tree). Pure text:
a dataset row is checked with it when it is loaded, and the evaluators before anything is applied
(engine/evaluators/patching.py, which also applies patches).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_CONTEXT_HUNK = re.compile(r"^\*\*\* \d+(?:,\d+)? \*\*\*\*$")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    '"': '"',
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "r": "\r",
}


def _unquote(name: str) -> str:
    """Undo git's C-style quoting of a path (``"a/\\303\\251 x"`` -> ``a/é x``)."""
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    body = name[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            octal = body[i + 1 : i + 4]
            if re.fullmatch(r"[0-7]{3}", octal):
                out.append(int(octal, 8))
                i += 4
            else:
                out += _ESCAPES.get(body[i + 1], body[i + 1]).encode()
                i += 2
            continue
        out += body[i].encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def _header_path(rest: str) -> str:
    """The path of a ``---``/``+++`` header: quoted, or up to the tab that precedes a timestamp."""
    rest = rest.rstrip("\n")
    if rest.startswith('"'):
        end = rest.find('"', 1)
        while end != -1 and rest[end - 1] == "\\":
            end = rest.find('"', end + 1)
        return _unquote(rest[: end + 1]) if end != -1 else rest
    return rest.split("\t", 1)[0].rstrip()


def _strip_prefix(path: str) -> str:
    for prefix in ("a/", "b/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


@dataclass
class _FileEntry:
    paths: set[str]
    symlink_target: str | None = None
    new_path: str | None = None


def _parse(patch: str) -> list[_FileEntry]:
    """Split a patch into per-file entries, skipping hunk bodies so no content line is read as a header."""
    entries: list[_FileEntry] = []
    current: _FileEntry | None = None
    lines = patch.splitlines()
    i = 0
    new_symlink = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            current = _FileEntry(paths=set())
            entries.append(current)
            new_symlink = False
            m = re.match(r'^diff --git ("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)$', line)
            if m:
                current.paths.update(_strip_prefix(_unquote(g)) for g in m.groups())
        elif line.startswith(("--- ", "+++ ", "*** ")) and not _CONTEXT_HUNK.match(line):
            if (
                current is None
                or line.startswith(("--- ", "*** "))
                and current.new_path is not None
            ):
                current = _FileEntry(paths=set())
                entries.append(current)
            path = _header_path(line[4:])
            if path != "/dev/null":
                current.paths.add(_strip_prefix(path))
                if line.startswith("+++ "):
                    current.new_path = _strip_prefix(path)
        elif current is not None and line.startswith(
            ("rename from ", "rename to ", "copy from ", "copy to ")
        ):
            current.paths.add(_unquote(line.split(" ", 2)[2]))
        elif line.startswith("Index: "):
            current = _FileEntry(paths={line[len("Index: ") :].strip()})
            entries.append(current)
        elif re.match(r"^(new file mode|new mode) 120000$", line):
            new_symlink = True
        elif current is not None and _HUNK.match(line):
            m = _HUNK.match(line)
            assert m is not None
            old_left = int(m.group(1) if m.group(1) is not None else 1)
            new_left = int(m.group(2) if m.group(2) is not None else 1)
            added: list[str] = []
            while (old_left > 0 or new_left > 0) and i + 1 < len(lines):
                i += 1
                body = lines[i]
                if body.startswith("\\"):
                    continue
                tag = body[:1]
                if tag == "+":
                    new_left -= 1
                    added.append(body[1:])
                elif tag == "-":
                    old_left -= 1
                else:
                    old_left -= 1
                    new_left -= 1
            if new_symlink and added:
                current.symlink_target = added[0]
        i += 1
    return entries


def _path_violation(path: str) -> str | None:
    if not path:
        return "an empty path"
    if "\0" in path:
        return f"{path!r} contains a NUL byte"
    if path.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", path) or path.startswith("\\"):
        return f"{path!r} is an absolute path"
    parts = re.split(r"[\\/]+", path)
    if ".." in parts:
        return f"{path!r} climbs out of the repository with '..'"
    if any(part.lower() == ".git" for part in parts):
        return f"{path!r} writes into .git/"
    return None


def check_patch_paths(patch: str) -> list[str]:
    """Every reason this patch would write outside the repository, read from its text alone.

    Returns one line per violation (empty when the patch is safe to hand to git/patch): absolute
    paths, ``..`` components, paths into ``.git/``, and symlinks created with a target that is
    absolute or climbs out of the tree. Pure, so the docker evaluator reuses it.
    """
    problems: list[str] = []
    for entry in _parse(patch):
        for path in sorted(entry.paths):
            reason = _path_violation(path)
            if reason:
                problems.append(reason)
        target = entry.symlink_target
        if target is not None and entry.new_path:
            link_dir = posixpath.dirname(entry.new_path)
            resolved = posixpath.normpath(posixpath.join(link_dir, target))
            if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
                problems.append(
                    f"{entry.new_path!r} is a symlink pointing out of the repository ({target!r})"
                )
    return list(dict.fromkeys(problems))


def patch_paths(patch: str) -> list[str]:
    """The repository-relative paths a patch names (old and new names, deduplicated)."""
    return sorted({p for entry in _parse(patch) for p in entry.paths})
