"""engine.claims: the Wilson interval, the binomial tail and the test bar, on hand-computed cases."""
import math

import pytest

from engine.claims import at_least, claimable, test_bar, wilson


def test_wilson_on_hand_computed_cases():
    # k = n = 8, z = 1.96: centre = (8 + 1.9208) / 11.8416, half = 1.96 * sqrt(0.9604) / 11.8416
    lo, hi = wilson(8, 8)
    assert lo == pytest.approx((9.9208 - 1.96 * math.sqrt(0.9604)) / 11.8416, abs=1e-12)
    assert hi == 1.0
    lo, hi = wilson(5, 10)  # symmetric around 1/2
    assert lo == pytest.approx(1 - hi) and lo == pytest.approx(0.2366, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="k=9"):
        wilson(9, 8)


def test_binomial_tail_on_hand_computed_cases():
    assert at_least(0, 5, 0.3) == pytest.approx(1.0)
    assert at_least(8, 8, 0.9) == pytest.approx(0.9**8)
    assert at_least(7, 8, 0.9) == pytest.approx(0.9**8 + 8 * 0.9**7 * 0.1)
    assert at_least(5, 8, 0.5) == pytest.approx((56 + 28 + 8 + 1) / 256)


def test_the_bar_passes_with_99_percent_at_the_conservative_rate_and_no_more():
    k = test_bar(8, 61, 64)
    p = wilson(61, 64)[0]
    assert at_least(k, 8, p) >= 0.99 > at_least(k + 1, 8, p)
    assert test_bar(8, 64, 64) > test_bar(8, 54, 64)  # a stronger effect may be tested harder
    with pytest.raises(ValueError, match="too weak"):
        test_bar(4, 1, 16)


def test_a_claim_needs_90_percent_of_16_seeds():
    assert claimable(14, 16) is False and claimable(15, 16) and claimable(58, 64)
    assert claimable(8, 8) is False  # too few seeds, however clean
    assert claimable(54, 64) is False  # DiffAugment on the tissue patches: 84 %
