"""The detail screen's trajectory view reads every agent's trajectory format (the snapshot test
shows it drawn): Ramp's agents' and mini-swe-agent's messages, SWE-agent's history or steps."""

from __future__ import annotations

import json

from tui.details import MESSAGE_LIMIT, Turn, _trajectory_file, _turns


def test_messages_with_content_parts_and_tool_calls():
    data = {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "fix "}, {"type": "text", "text": "it"}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"function": {"name": "bash", "arguments": '{"command": "ls"}'}}]},
        {"role": "tool", "content": "README.md"},
    ]}
    assert _turns(data) == (Turn("user", "fix it"), Turn("assistant", 'tool call bash: {"command": "ls"}'),
                            Turn("tool", "README.md"))


def test_swe_agent_history_and_steps():
    history = {"history": [{"role": "system", "content": "sys"}], "trajectory": [{"action": "ls"}]}
    assert _turns(history) == (Turn("system", "sys"),)
    steps = {"trajectory": [{"thought": "look", "action": "ls -la", "observation": "a.py"}]}
    assert _turns(steps) == (Turn("assistant", "look\n$ ls -la"), Turn("observation", "a.py"))


def test_a_long_message_is_cut_and_a_broken_file_shows_nothing(tmp_path):
    long = _turns({"messages": [{"role": "user", "content": "x" * (MESSAGE_LIMIT + 10)}]})[0]
    assert long.content.endswith("(10 more characters in the file)") and len(long.content) < MESSAGE_LIMIT + 60
    broken = tmp_path / "trajectory.json"
    broken.write_text('{"messages": [')
    assert _trajectory_file(str(broken)) == {} and _trajectory_file(None) == {}
    broken.write_text(json.dumps(["not", "a", "mapping"]))
    assert _turns(_trajectory_file(str(broken))) == ()
