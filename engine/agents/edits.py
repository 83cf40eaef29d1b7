"""Search/replace edits: the strict format the direct-edit agent asks for, parsed and applied.

The format is a file path on its own line, then one block::

    engine/agents/edits.py
    <<<<<<< SEARCH
    lines copied exactly from the file
    =======
    the lines that replace them
    >>>>>>> REPLACE

Why strict: a lenient parser guesses what a model meant, and a wrong guess writes the wrong code
without anyone noticing. Here every deviation is a :class:`EditFormatError` whose message says which
block is wrong and what was expected, so the agent can answer it with a format correction and the
model can fix its own output. Text outside blocks (explanations, code fences) is allowed and ignored.

Application is all-or-nothing per reply: every block is located first, and files are written only
when all of them match. Half-applied replies leave states the model never saw. A SEARCH section is
matched exactly first; when that fails, lines are compared without trailing whitespace (a common,
harmless slip); when it still fails or is ambiguous, the failure says so precisely and shows the
closest lines of the file.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..sandbox.base import Sandbox

SEARCH_MARK = "<<<<<<< SEARCH"
DIVIDER = "======="
REPLACE_MARK = ">>>>>>> REPLACE"
_MARKS = (SEARCH_MARK, DIVIDER, REPLACE_MARK)
_PATH = re.compile(r"^[\w.\-/]+$")


class EditFormatError(ValueError):
    """The reply does not follow the block format; the message tells the model what to fix."""


@dataclass(frozen=True)
class Edit:
    """One block: replace ``search`` (whole lines) in ``path`` by ``replace``. Empty search creates."""

    path: str
    search: tuple[str, ...]
    replace: tuple[str, ...]


@dataclass(frozen=True)
class EditFailure:
    """A block that could not be applied, with a message meant for the model."""

    index: int
    path: str
    message: str


def _path_before(lines: list[str], start: int, block: int) -> str:
    for line in reversed(lines[:start]):
        text = line.strip()
        if not text or text.startswith("```"):
            continue
        if not _PATH.match(text) or text.startswith("/") or ".." in text.split("/"):
            raise EditFormatError(
                f"block {block}: the line before {SEARCH_MARK!r} must be the file's path relative "
                f"to the repository root, alone on its line; got {text[:80]!r}"
            )
        return text
    raise EditFormatError(f"block {block}: no file path line before {SEARCH_MARK!r}")


def parse_edits(text: str) -> list[Edit]:
    """Parse every block of a reply, or raise EditFormatError naming the first problem."""
    lines = text.splitlines()
    edits: list[Edit] = []
    i = 0
    while i < len(lines):
        mark = lines[i].rstrip()
        if mark in (DIVIDER, REPLACE_MARK):
            raise EditFormatError(f"line {i + 1}: {mark!r} outside a block (a block starts with {SEARCH_MARK!r})")
        if mark != SEARCH_MARK:
            i += 1
            continue
        block = len(edits) + 1
        path = _path_before(lines, i, block)
        sections: list[list[str]] = [[], []]
        part, j = 0, i + 1
        while j < len(lines):
            line = lines[j].rstrip()
            if line == SEARCH_MARK:
                raise EditFormatError(f"block {block} ({path}): a new {SEARCH_MARK!r} before {REPLACE_MARK!r}")
            if line == DIVIDER and part == 0:
                part = 1
            elif line == DIVIDER:
                raise EditFormatError(f"block {block} ({path}): a second {DIVIDER!r} in one block")
            elif line == REPLACE_MARK:
                if part == 0:
                    raise EditFormatError(f"block {block} ({path}): {REPLACE_MARK!r} before {DIVIDER!r}")
                break
            else:
                sections[part].append(lines[j])
            j += 1
        else:
            expected = DIVIDER if part == 0 else REPLACE_MARK
            raise EditFormatError(f"block {block} ({path}): the reply ended before {expected!r}")
        search, replace = tuple(sections[0]), tuple(sections[1])
        if search == replace:
            raise EditFormatError(f"block {block} ({path}): SEARCH and REPLACE are identical; it changes nothing")
        edits.append(Edit(path, search, replace))
        i = j + 1
    if not edits:
        raise EditFormatError(
            f"no edit blocks found; every edit is a file path line followed by {SEARCH_MARK!r}, "
            f"the old lines, {DIVIDER!r}, the new lines and {REPLACE_MARK!r}"
        )
    return edits


def _find(haystack: list[str], needle: tuple[str, ...], loose: bool) -> list[int]:
    norm = (lambda s: s.rstrip()) if loose else (lambda s: s)
    target = [norm(s) for s in needle]
    size = len(target)
    return [
        k for k in range(len(haystack) - size + 1)
        if norm(haystack[k]) == target[0] and [norm(s) for s in haystack[k:k + size]] == target
    ]


def _closest(lines: list[str], needle: tuple[str, ...]) -> str:
    """The file's lines most like the SEARCH section, to show the model what is really there."""
    size = max(len(needle), 1)
    best, best_at = 0.0, 0
    matcher = difflib.SequenceMatcher(None, b="\n".join(needle))  # b is the side SequenceMatcher caches
    for k in range(max(len(lines) - size + 1, 1)):
        matcher.set_seq1("\n".join(lines[k:k + size]))
        if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best and matcher.ratio() > best:
            best, best_at = matcher.ratio(), k
    if best < 0.5:
        return ""
    snippet = "\n".join(lines[best_at:best_at + size])
    return f"\nThe closest lines in the file (from line {best_at + 1}) are:\n{snippet}"


class _Text:
    """A file's lines plus what is needed to write it back unchanged around the edit."""

    def __init__(self, content: str | None):
        self.exists = content is not None
        content = content or ""
        self.newline = "\r\n" if "\r\n" in content else "\n"
        self.trailing = content.endswith(("\n", "\r")) or not content
        self.lines = content.splitlines()

    def render(self) -> str:
        body = self.newline.join(self.lines)
        return body + self.newline if self.trailing and self.lines else body


async def apply_edits(sandbox: Sandbox, edits: list[Edit]) -> tuple[list[str], list[EditFailure]]:
    """Apply every edit or none. Returns (changed paths, failures); files are written only without failures."""
    texts: dict[str, _Text] = {}
    failures: list[EditFailure] = []
    for index, edit in enumerate(edits, start=1):
        if edit.path not in texts:
            try:
                texts[edit.path] = _Text(await sandbox.read_file(edit.path))
            except FileNotFoundError:
                texts[edit.path] = _Text(None)
            except (PermissionError, IsADirectoryError) as exc:
                failures.append(EditFailure(index, edit.path, f"cannot edit {edit.path}: {exc}"))
                continue
        text = texts[edit.path]
        problem = _apply_one(text, edit)
        if problem:
            failures.append(EditFailure(index, edit.path, f"block {index} ({edit.path}): {problem}"))
    if failures:
        return [], failures
    for path, text in texts.items():
        await sandbox.write_file(path, text.render())
    return list(texts), []


def _apply_one(text: _Text, edit: Edit) -> str:
    """Apply one edit to ``text`` in memory; return why it failed, or ''."""
    if not edit.search:
        if text.exists:
            return "SEARCH is empty but the file exists; quote the lines to replace"
        text.lines = list(edit.replace)
        text.exists = text.trailing = True
        return ""
    if not text.exists:
        return "no such file (to create one, leave SEARCH empty)"
    for loose in (False, True):
        hits = _find(text.lines, edit.search, loose)
        if len(hits) == 1:
            k = hits[0]
            text.lines[k:k + len(edit.search)] = list(edit.replace)
            return ""
        if len(hits) > 1:
            where = ", ".join(str(h + 1) for h in hits[:5])
            return f"SEARCH matches {len(hits)} places (lines {where}); include more lines to make it unique"
    return "SEARCH does not match the file exactly" + _closest(text.lines, edit.search)
