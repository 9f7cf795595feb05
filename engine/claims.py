r"""When a rate over seeds may be called a claim, and how a test of it is sized so it cannot flake.

A demo *claims* an effect (a failure that shows, a fix that undoes it) only when a sweep measured it
in at least ``CLAIM_RATE`` = 90 % of at least ``CLAIM_MIN_SEEDS`` = 16 seeds. Anything weaker is shown
with its measured rate, as a result, not a claim.

A test that re-checks a claim on N fresh seeds must pass on a new machine with probability >= 99 %
(results differ across machines, so each seed's outcome is a Bernoulli draw with the claim's rate
p). Its bar is therefore not "80 % of N" but the largest k with

    P(X >= k) >= 0.99,   X ~ Binomial(N, p),

computed from a *conservative* p: the lower end of the 95 % Wilson interval of the sweep's rate,
so that a lucky sweep does not size a test too tightly. :func:`test_bar` does both. The bar can be
low for small N; the test still fails when the effect is gone (a fix that works in half the seeds
passes a 5-of-8 bar with probability 0.36), and it says how likely a false alarm is.

Wilson interval (Wilson 1927) for k successes in n trials, z = 1.96:

    centre = (k + z^2/2) / (n + z^2),   half = z sqrt(k(n-k)/n + z^2/4) / (n + z^2).
"""
from __future__ import annotations

import math

CLAIM_RATE = 0.90
CLAIM_MIN_SEEDS = 16
PASS_PROBABILITY = 0.99


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a rate k/n; (0, 1) for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"wilson: k={k} must lie in [0, n={n}]")
    denom = n + z * z
    centre = (k + z * z / 2) / denom
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def at_least(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exactly (sums of n + 1 terms; n is small here)."""
    k = max(0, k)
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def claimable(k: int, n: int) -> bool:
    """May a sweep's k of n seeds be shown as a claim?"""
    return n >= CLAIM_MIN_SEEDS and k >= CLAIM_RATE * n


def test_bar(n_test: int, k_measured: int, n_measured: int, target: float = PASS_PROBABILITY) -> int:
    """The most seeds of ``n_test`` a test may demand so that it passes with probability >= target
    when the effect's rate is the lower Wilson bound of ``k_measured / n_measured``. Raises
    ValueError when even 1 seed cannot be demanded (the effect is too weak to test on n_test seeds)."""
    p = wilson(k_measured, n_measured)[0]
    for k in range(n_test, 0, -1):
        if at_least(k, n_test, p) >= target:
            return k
    raise ValueError(f"{k_measured}/{n_measured} is too weak to test on {n_test} seeds at {target:.0%}")


test_bar.__test__ = False  # a helper named test_*, not a pytest test
