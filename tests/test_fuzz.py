"""Every malformed input of the corpus (tests/fuzzcases.py) ends with exit code 2 and one message
naming where the problem is, with no traceback, and writes nothing outside the runs folder."""

from __future__ import annotations

import pytest

from .fuzzcases import CASES, run_case


def test_the_corpus_is_large_and_covers_every_kind_of_input():
    kinds = {case.name.split("/")[0] for case in CASES}
    assert kinds == {"config", "env", "flag", "catalog", "credentials", "dataset"}
    assert len(CASES) >= 80 and len({c.name for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input_is_refused_with_a_message_that_names_it(case, tmp_path, cache):
    outcome = run_case(case, tmp_path / "case", cache)
    assert outcome.problems(case) == [], outcome.stderr
