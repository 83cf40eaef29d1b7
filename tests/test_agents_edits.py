"""The search/replace format: strict parsing (every malformed shape named) and all-or-nothing edits."""

from __future__ import annotations

import re

import pytest

from engine.agents.edits import Edit, EditFormatError, apply_edits, parse_edits
from engine.sandbox.local import LocalSandbox

from .agenthelpers import block


def test_parses_blocks_between_prose_and_fences():
    reply = (
        "The bug is in area().\n\n```python\n"
        + block("shapes/rect.py", "    return w * w", "    return w * h")
        + "```\n\nAnd a new file:\n\n"
        + "shapes/new.py\n<<<<<<< SEARCH\n=======\nX = 1\n\n>>>>>>> REPLACE\n"
    )
    assert parse_edits(reply) == [
        Edit("shapes/rect.py", ("    return w * w",), ("    return w * h",)),
        Edit("shapes/new.py", (), ("X = 1", "")),
    ]


def test_trailing_spaces_after_markers_are_tolerated():
    reply = "a.py\n<<<<<<< SEARCH  \nx = 1\n=======   \nx = 2\n>>>>>>> REPLACE \n"
    assert parse_edits(reply) == [Edit("a.py", ("x = 1",), ("x = 2",))]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("I would change x to 2.", "no edit blocks found"),
        ("```python\nx = 2\n```", "no edit blocks found"),
        ("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "no file path line"),
        ("In file a.py:\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "must be the file's path"),
        ("/etc/passwd\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "must be the file's path"),
        ("../a.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "must be the file's path"),
        ("a.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n", "'>>>>>>> REPLACE' before '======='"),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "ended before '>>>>>>> REPLACE'"),
        ("a.py\n<<<<<<< SEARCH\nx\n", "ended before '======='"),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n=======\nz\n>>>>>>> REPLACE\n", "a second '======='"),
        ("a.py\n<<<<<<< SEARCH\nx\n<<<<<<< SEARCH\n", "a new '<<<<<<< SEARCH'"),
        ("a.py\n=======\ny\n>>>>>>> REPLACE\n", "'=======' outside a block"),
        ("done\n>>>>>>> REPLACE\n", "'>>>>>>> REPLACE' outside a block"),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\nx\n>>>>>>> REPLACE\n", "identical"),
    ],
)
def test_malformed_replies_are_named(reply, message):
    with pytest.raises(EditFormatError, match=re.escape(message)):
        parse_edits(reply)


def test_the_error_names_the_block():
    reply = block("a.py", "x", "y") + "b.py\n<<<<<<< SEARCH\nz\n"
    with pytest.raises(EditFormatError, match=r"block 2 \(b.py\)"):
        parse_edits(reply)


@pytest.fixture
def sandbox(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 1\n")
    return LocalSandbox(tmp_path, "HEAD")


async def test_exact_match_is_replaced(sandbox, tmp_path):
    edits = parse_edits(block("pkg/mod.py", "def f():\n    return 1", "def f():\n    return 2"))
    changed, failures = await apply_edits(sandbox, edits)
    assert (changed, failures) == (["pkg/mod.py"], [])
    assert (tmp_path / "pkg/mod.py").read_text() == "def f():\n    return 2\n\n\ndef g():\n    return 1\n"


async def test_ambiguous_search_fails_with_the_line_numbers(sandbox):
    _, failures = await apply_edits(sandbox, parse_edits(block("pkg/mod.py", "    return 1", "    return 3")))
    assert len(failures) == 1
    assert "matches 2 places (lines 2, 6)" in failures[0].message


async def test_a_near_miss_shows_the_closest_lines(sandbox):
    _, failures = await apply_edits(sandbox, parse_edits(block("pkg/mod.py", "def f():\n  return 1", "x = 1")))
    message = failures[0].message
    assert message.startswith("block 1 (pkg/mod.py): SEARCH does not match the file exactly")
    assert "closest lines in the file (from line 1)" in message and "def f():\n    return 1" in message


async def test_trailing_whitespace_slips_still_match(sandbox, tmp_path):
    edits = parse_edits(block("pkg/mod.py", "def g():   \n    return 1  ", "def g():\n    return 7"))
    _, failures = await apply_edits(sandbox, edits)
    assert failures == []
    assert (tmp_path / "pkg/mod.py").read_text().endswith("def g():\n    return 7\n")


async def test_edits_are_all_or_nothing(sandbox, tmp_path):
    before = (tmp_path / "pkg/mod.py").read_text()
    reply = block("pkg/mod.py", "def f():", "def f0():") + block("pkg/mod.py", "def h():", "def h0():")
    changed, failures = await apply_edits(sandbox, parse_edits(reply))
    assert changed == [] and [f.index for f in failures] == [2]
    assert (tmp_path / "pkg/mod.py").read_text() == before


async def test_blocks_apply_in_order_and_see_each_other(sandbox, tmp_path):
    reply = block("pkg/mod.py", "def f():", "def first():") + block("pkg/mod.py", "def first():", "def second():")
    _, failures = await apply_edits(sandbox, parse_edits(reply))
    assert failures == []
    assert (tmp_path / "pkg/mod.py").read_text().startswith("def second():\n")


async def test_an_empty_search_creates_a_file_and_only_a_new_one(sandbox, tmp_path):
    create = "pkg/util.py\n<<<<<<< SEARCH\n=======\nVALUE = 1\n>>>>>>> REPLACE\n"
    changed, failures = await apply_edits(sandbox, parse_edits(create))
    assert (changed, failures) == (["pkg/util.py"], [])
    assert (tmp_path / "pkg/util.py").read_text() == "VALUE = 1\n"
    _, failures = await apply_edits(sandbox, parse_edits(create))
    assert "SEARCH is empty but the file exists" in failures[0].message


async def test_editing_a_missing_file_says_how_to_create_one(sandbox):
    _, failures = await apply_edits(sandbox, parse_edits(block("pkg/nope.py", "x", "y")))
    assert "no such file (to create one, leave SEARCH empty)" in failures[0].message


async def test_edits_outside_the_workspace_are_refused(sandbox):
    edits = [Edit("pkg/../../escape.py", ("x",), ("y",))]
    _, failures = await apply_edits(sandbox, edits)
    assert "outside the workspace" in failures[0].message


async def test_line_endings_and_a_missing_final_newline_are_kept(tmp_path):
    (tmp_path / "crlf.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    (tmp_path / "bare.py").write_text("a = 1\nb = 2")
    sandbox = LocalSandbox(tmp_path, "HEAD")
    reply = block("crlf.py", "b = 2", "b = 3") + block("bare.py", "b = 2", "b = 3")
    _, failures = await apply_edits(sandbox, parse_edits(reply))
    assert failures == []
    assert (tmp_path / "crlf.py").read_bytes() == b"a = 1\r\nb = 3\r\n"
    assert (tmp_path / "bare.py").read_text() == "a = 1\nb = 3"
