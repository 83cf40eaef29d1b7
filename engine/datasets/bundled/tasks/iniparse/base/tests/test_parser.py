import pytest

from iniparse import ParseError, parse


def test_sections_and_keys():
    text = "[server]\nhost = example.org\nport = 8080\n\n[client]\nretries = 3\n"
    assert parse(text) == {
        "server": {"host": "example.org", "port": "8080"},
        "client": {"retries": "3"},
    }


def test_full_line_comments_are_ignored():
    assert parse("; top\n[a]\n# note\nx = 1\n") == {"a": {"x": "1"}}


def test_keys_are_lower_cased():
    assert parse("[a]\nName = x\n") == {"a": {"name": "x"}}


def test_quoted_value_keeps_semicolon():
    assert parse('[csv]\nseparator = ";"\n') == {"csv": {"separator": ";"}}


def test_semicolon_inside_unquoted_value():
    text = "[paths]\nsearch = /usr/lib;/opt/lib\n"
    assert parse(text) == {"paths": {"search": "/usr/lib;/opt/lib"}}


def test_key_outside_section_raises():
    with pytest.raises(ParseError):
        parse("x = 1\n")
