"""The estimators against hand-computed values, edge cases included."""

from __future__ import annotations

import pytest

from engine.core.feedback import chosen, is_test_path, public_tests, split_patch, split_tests
from engine.core.stats import (
    bootstrap_diff_ci,
    mcnemar_exact,
    pass_at_k,
    percentile,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (5, 10, 0.236593, 0.763407),   # the textbook value for 5 of 10
        (0, 10, 0.0, 0.277533),        # 0 of n: upper bound z^2 / (n + z^2), not 0
        (10, 10, 0.722467, 1.0),       # n of n: lower bound n / (n + z^2), not 1
        (1, 1, 0.206549, 1.0),
        (81, 263, 0.255289, 0.366210),  # by hand: centre 0.310749, half-width 0.055461
    ],
)
def test_wilson_interval_known_values(successes, n, low, high):
    lo, hi = wilson_interval(successes, n)
    assert lo == pytest.approx(low, abs=1e-6)
    assert hi == pytest.approx(high, abs=1e-6)


def test_wilson_interval_of_nothing_is_none_and_bad_counts_raise():
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (10, 3, 1, 0.3),           # pass@1 is c / n
        (5, 2, 2, 0.7),            # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (5, 0, 3, 0.0),            # 0 of n
        (5, 5, 3, 1.0),            # n of n
        (4, 1, 4, 1.0),            # n - c < k: every draw of k contains the correct one
        (6, 2, 3, 0.8),            # 1 - C(4,3)/C(6,3) = 1 - 4/20
    ],
)
def test_pass_at_k_unbiased_estimator(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_with_k_above_n_is_not_estimable():
    assert pass_at_k(3, 1, 5) is None
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 0)


def test_percentile_interpolates_like_numpy():
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0.5) == pytest.approx(2.5)
    assert percentile(values, 0.9) == pytest.approx(3.7)
    assert percentile(values, 0.99) == pytest.approx(3.97)
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (1, 5, 14 / 64),           # n=6: 2 * (C(6,0) + C(6,1)) / 2^6
        (0, 6, 2 / 64),
        (2, 10, 2 * 79 / 4096),    # n=12: 2 * (1 + 12 + 66) / 2^12
        (3, 3, 1.0),               # capped at 1
        (0, 0, 1.0),               # no discordant pair: no evidence
    ],
)
def test_mcnemar_exact_by_hand(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p)


def test_bootstrap_is_seeded_and_brackets_the_difference():
    a = [1, 0, 0, 1, 0, 0, 1, 0, 0, 0] * 3
    b = [1, 1, 0, 1, 1, 0, 1, 0, 1, 0] * 3
    first = bootstrap_diff_ci(a, b, seed=7, resamples=2000)
    assert first == bootstrap_diff_ci(a, b, seed=7, resamples=2000)
    low, high = first
    assert low < 0.3 < high and 0 < low
    assert bootstrap_diff_ci([1, 1], [1, 1]) == (0.0, 0.0)
    assert bootstrap_diff_ci([], []) is None


def test_feedback_split_is_deterministic_order_free_and_keeps_one_of_each():
    tests = [f"t{i}" for i in range(10)]
    public, hidden = split_tests("repo__x-1", tests, 0.3, seed=1)
    assert len(public) == 3 and len(hidden) == 7 and set(public) | set(hidden) == set(tests)
    assert split_tests("repo__x-1", list(reversed(tests)), 0.3, seed=1) == (public, hidden)
    assert split_tests("repo__x-1", tests, 0.3, seed=2) != (public, hidden)
    assert split_tests("i", ["a", "b"], 0.9)[1] != []             # at least one hidden
    assert split_tests("i", ["a", "b"], 0.01)[0] != []            # at least one public
    assert split_tests("i", ["only"], 0.5) == ([], ["only"])      # nothing to split
    assert public_tests("i", tests, 0.0) == []


def test_sampling_coin_matches_its_share():
    picked = sum(chosen(0.25, 3, "run", f"i{n}", 1) for n in range(4000))
    assert 900 < picked < 1100
    assert not any(chosen(0.0, 3, "run", f"i{n}", 1) for n in range(100))


def test_patch_is_cut_into_source_and_tests():
    patch = (
        "diff --git a/src/calc/__init__.py b/src/calc/__init__.py\n--- a/src/calc/__init__.py\n+++ b/src/calc/__init__.py\n@@ -1 +1 @@\n-x\n+y\n"
        "diff --git a/tests/test_calc.py b/tests/test_calc.py\n--- a/tests/test_calc.py\n+++ b/tests/test_calc.py\n@@ -1 +1 @@\n-a\n+b\n"
    )
    source, tests = split_patch(patch)
    assert source.startswith("diff --git a/src/calc") and "tests/test_calc.py" not in source
    assert tests.startswith("diff --git a/tests/test_calc.py") and source + tests == patch
    assert split_patch("") == ("", "")
    assert is_test_path("pkg/test_x.py") and is_test_path("x_test.py") and is_test_path("testing/data.json")
    assert not is_test_path("src/contest.py") and not is_test_path("latest/main.py")
