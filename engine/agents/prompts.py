"""The words the model agents say to their models.

Kept apart from the loops so the loops read as control flow, and so a prompt change is a one-file
diff that is easy to review against a change in resolved rate. Templates use ``str.format`` fields.
"""

from __future__ import annotations

from .edits import DIVIDER, REPLACE_MARK, SEARCH_MARK

EDIT_FORMAT = f"""Every edit is one block: the file's path relative to the repository root alone on a line,
then the exact current lines to replace, then their replacement:

path/to/module.py
{SEARCH_MARK}
    def area(self):
        return self.width * self.width
{DIVIDER}
    def area(self):
        return self.width * self.height
{REPLACE_MARK}

Rules: SEARCH must copy whole lines of the current file exactly, indentation included, and match
one place only (add neighbouring lines to make it unique). Use several blocks for several places.
To create a file, leave SEARCH empty. Write no other markers."""

DIRECT_SYSTEM = f"""You are an expert software engineer. You fix issues in a Python repository by
editing its files with search/replace blocks.

{EDIT_FORMAT}

Fix the issue in the library code, not in the tests. Reply with a short explanation and the blocks."""

DIRECT_TASK = """<issue>
{problem}
</issue>

The files most likely involved, in full:

{files}
{others}
Reply with the search/replace blocks that fix the issue."""

FILE_SHOWN = "### {path}\n```\n{content}\n```\n"

OTHER_FILES = "\nOther files that may matter (not shown): {paths}\n"

FORMAT_CORRECTION = """Your reply could not be used: {error}

Reply again, with the edits as blocks in exactly this format:

{format}"""

EDITS_NOT_APPLIED = """None of your edits were applied (the files are unchanged), because:
{failures}

Send corrected blocks; SEARCH must match the current file exactly."""

TESTS_FAILED = """Your edits were applied to {paths}. Then the tests failed:

{feedback}

The edited files now read:

{files}
Send blocks that fix these failures; SEARCH must match the current content shown above."""

JUDGE_REJECTED = """Your edits were applied to {paths} and {tests}, but a reviewer rejected the change:
{reason}

Send blocks that address this."""

LOCALIZE = """<issue>
{problem}
</issue>

Candidate files of the repository, most likely first:
{candidates}

Which files must change to fix the issue? Reply with their paths only, one per line, at most {limit}."""

JUDGE_SYSTEM = """You review a patch that is meant to fix an issue. Judge whether it fixes the issue
as described, without breaking other behaviour. Answer with exactly one line: ACCEPT, or
REJECT: followed by the reason."""

JUDGE_TASK = """<issue>
{problem}
</issue>

<patch>
{patch}
</patch>

Tests: {tests}"""

BASH_SYSTEM = """You are an expert software engineer working in a shell, in the repository at {workdir}.
Fix the issue below by editing the library code (not the tests).

Every reply has a short thought and then exactly one shell command in one ```bash block:

```bash
grep -n "def area" shapes/*.py
```

Each command runs in a fresh shell in the repository root, with a {timeout:.0f}s timeout; its output
comes back to you. Commands cannot be interactive (no editors, no pagers). Edit files with tools
such as sed, or with a heredoc (cat <<'EOF' > file). When the fix is done, submit with this command,
alone:

```bash
echo {sentinel}
```"""

BASH_TASK = """<issue>
{problem}
</issue>"""

BASH_FORMAT_CORRECTION = """Your reply must contain exactly one ```bash block with one command; it had {count}.
Reply again with a short thought and exactly one ```bash block. To submit, run: echo {sentinel}"""

BASH_OBSERVATION = """<returncode>{exit_code}</returncode>
<output>
{output}
</output>"""

BASH_TIMEOUT = """The command timed out after {timeout:.0f}s and was killed. Output so far:
<output>
{output}
</output>
Try a quicker command."""
