"""The PacGAN/VEEGAN mode metrics on hand-built sample sets with exact expected values."""
import math

import pytest
import torch

from engine import data2d
from engine.metrics import mean_sd, mode_metrics

MU = data2d.ring_means()  # 8 modes on the unit circle
SIG = 0.05


def test_ring_angles_have_no_repeated_endpoint():
    assert len(MU) == 8
    assert torch.cdist(MU, MU).add(torch.eye(8) * 10).min() > 0.7  # all distinct, ~0.765 apart
    assert torch.allclose(MU.norm(dim=1), torch.ones(8))


def test_grid_is_5x5_at_spacing_2():
    g = data2d.grid_means()
    assert g.shape == (25, 2)
    assert sorted(set(g[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_all_modes_exact():
    x = MU.repeat(100, 1)  # 800 samples, 100 on each mode centre
    m = mode_metrics(x, MU, SIG)
    assert m["modes"].item() == 8
    assert m["hq_fraction"].item() == 1.0
    assert m["reverse_kl"].item() == pytest.approx(0.0, abs=1e-6)


def test_one_mode():
    x = MU[3].repeat(500, 1)
    m = mode_metrics(x, MU, SIG)
    assert m["modes"].item() == 1
    assert m["hq_fraction"].item() == 1.0
    assert m["reverse_kl"].item() == pytest.approx(math.log(8), rel=1e-6)


def test_two_modes_uneven():
    x = torch.cat([MU[0].repeat(300, 1), MU[1].repeat(100, 1)])
    m = mode_metrics(x, MU, SIG)
    q = torch.tensor([0.75, 0.25])
    assert m["modes"].item() == 2
    assert m["reverse_kl"].item() == pytest.approx((q * torch.log(q * 8)).sum().item(), rel=1e-5)


def test_off_mode_noise_is_not_high_quality():
    x = torch.zeros(1000, 2)  # the ring's centre: 1 away from every mode
    m = mode_metrics(x, MU, SIG)
    assert m["modes"].item() == 0 and m["hq_fraction"].item() == 0.0
    assert m["reverse_kl"].item() == pytest.approx(math.log(8))


def test_threshold_is_three_sigma():
    inside = MU[0] + torch.tensor([2.9 * SIG, 0.0])
    outside = MU[0] + torch.tensor([3.1 * SIG, 0.0])
    m = mode_metrics(torch.stack([inside, outside]), MU, SIG)
    assert m["hq_fraction"].item() == 0.5 and m["modes"].item() == 1


def test_half_noise_half_modes_and_nan_samples():
    x = torch.cat([MU.repeat(50, 1), torch.zeros(400, 2), torch.full((10, 2), float("nan"))])
    m = mode_metrics(x, MU, SIG)
    assert m["modes"].item() == 8
    assert m["hq_fraction"].item() == pytest.approx(400 / 810)


def test_batched_over_seeds():
    x = torch.stack([MU.repeat(10, 1), MU[:1].repeat(80, 1)])
    m = mode_metrics(x, MU, SIG)
    assert m["modes"].tolist() == [8, 1]


def test_mean_sd():
    assert mean_sd([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_sd([5.0]) == (5.0, 0.0)
