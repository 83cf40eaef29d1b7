"""What a completion looks like, apart from whether it passes: syntax validity and degenerate output.

A small model's failures are often not wrong answers but broken text: nothing at all, a keyword
repeated (``return return``, ``def def``), a line written over and over, or a few tokens cycling.
Each rule here has a name and a sentence saying exactly what it flags; reports print the sentence
beside the rate, so a reader knows what "degenerate" counted.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections import Counter

#: Rule name -> what it flags, as reports show it.
DEGENERATE_RULES: dict[str, str] = {
    "empty": "the completion is empty or whitespace only",
    "repeated_keyword": "a Python keyword written twice in a row, such as `return return` or `def def`",
    "repeated_line": "the same line of code (4 or more characters, a letter or digit among them) three "
    "or more times in a row",
    "repeated_ngrams": "in a completion of 16 or more tokens, over half of its 8-token sequences repeat "
    "an earlier one (the most repetitive of HumanEval's 164 reference solutions: 35%)",
}

_KEYWORDS = "|".join(sorted((k for k in keyword.kwlist if k.isalpha()), key=len, reverse=True))
_REPEATED_KEYWORD = re.compile(rf"\b({_KEYWORDS})\s+\1\b")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_STRING = re.compile(r'("""|\'\'\')(?:.|\n)*?\1|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
_COMMENT = re.compile(r"#[^\n]*")


def syntax_error(source: str) -> str | None:
    """None when ``source`` parses as Python, else the error: 'line 3: invalid syntax'."""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return f"{type(exc).__name__}: {exc}"
    return None


def degenerate_rule(completion: str) -> str | None:
    """The first rule of :data:`DEGENERATE_RULES` the completion breaks, or None."""
    if not completion.strip():
        return "empty"
    code = _COMMENT.sub("", _STRING.sub('""', completion))  # words in strings and comments are prose
    if _REPEATED_KEYWORD.search(code):
        return "repeated_keyword"
    run, previous = 0, None
    for line in completion.splitlines():
        text = line.strip()
        if len(text) < 4 or not any(c.isalnum() for c in text):
            continue  # blank lines and closing brackets repeat in well-formed code
        run = run + 1 if text == previous else 1
        previous = text
        if run >= 3:
            return "repeated_line"
    tokens = _TOKEN.findall(completion)
    if len(tokens) >= 16:
        grams = Counter(tuple(tokens[i:i + 8]) for i in range(len(tokens) - 7))
        repeats = sum(n - 1 for n in grams.values())
        if repeats * 2 > sum(grams.values()):
            return "repeated_ngrams"
    return None
