"""The estimators behind Ramp's numbers, as small pure functions.

They are kept apart from the store so each can be checked against hand-computed values, and so the
metrics, the gates, the reports and the A/B comparison all use one definition of each figure:

- :func:`wilson_interval`: the 95% interval of a rate. Unlike the normal approximation it stays
  inside [0, 1] and does not collapse to a point at 0 of n or n of n, which is exactly where the
  first phases of a ramp (5 or 10 instances) live.
- :func:`pass_at_k`: the unbiased pass@k estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k).
- :func:`percentile`: linear interpolation between order statistics (numpy's default), for
  latency P50/P90/P99.
- :func:`mcnemar_exact`: the exact (binomial) McNemar test on the discordant pairs of two runs over
  the same instances; the chi-squared version is wrong at the small counts a ramp produces.
- :func:`bootstrap_diff_ci`: a seeded paired bootstrap interval of the difference of two rates.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

#: The two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes / n``; None when there is nothing to estimate."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # At 0 of n and n of n the bounds are exactly 0 and 1; rounding must not move them.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Chance that at least one of k samples drawn from n (c of them correct) is correct.

    None when k > n: the estimator needs at least k samples, and reporting anything else would be
    a guess.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not 0 <= c <= n:
        raise ValueError(f"c must be within 0..{n}, got {c}")
    if k > n:
        return None
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th quantile (0 <= q <= 1), interpolating linearly; None for no values."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must be within 0..1, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs (A-only and B-only successes).

    Under the null each discordant pair goes either way with probability 1/2, so the p-value is
    twice the binomial tail of the smaller count, capped at 1.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts cannot be negative")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def bootstrap_diff_ci(
    a: Sequence[int], b: Sequence[int], *, resamples: int = 10_000, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Paired bootstrap interval of mean(b) - mean(a) over the same instances (0/1 outcomes).

    Instances are resampled with replacement, keeping each instance's pair together; the interval
    is the percentile interval of the resampled differences. Seeded, so a report is reproducible.
    """
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    n = len(a)
    if n == 0:
        return None
    rng = random.Random(seed)
    diffs = [b_i - a_i for a_i, b_i in zip(a, b, strict=True)]
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    low, high = percentile(means, tail), percentile(means, 1 - tail)
    assert low is not None and high is not None
    return low, high
