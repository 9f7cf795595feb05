"""engine/patch_classifier.py: the shipped classifier loads with weights_only=True and reaches the
required held-out accuracy (recomputed here, not read from its report); a missing or corrupt file
is a clear ClassifierError; and each metric behaves as its name says on patches whose answer is known."""
import math

import numpy as np
import pytest
import torch

from engine import patch_classifier as pc, patches

SIZE = 16


@pytest.fixture(scope="module")
def judge():
    return pc.judge(SIZE)


def test_shipped_classifier_reaches_95_percent_on_held_out_patches():
    net = pc.load(SIZE)
    x, y = patches.build(SIZE).split(train=False)
    with torch.no_grad():
        pred = torch.cat([net(c).argmax(1) for c in x.split(1024)])
    acc = float((pred == y).float().mean())
    assert acc >= pc.REQUIRED_ACCURACY, acc
    assert len(y) >= 500  # a held-out set large enough for the figure to mean something
    report = __import__("json").loads(pc.REPORT.read_text())
    assert abs(report["sizes"][str(SIZE)]["accuracy"] - acc) < 1e-4  # the report is what the weights do


def test_missing_and_corrupt_weights_are_named(tmp_path):
    with pytest.raises(pc.ClassifierError, match="missing.*python -m engine.patch_classifier"):
        pc.load(SIZE, tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00not a torch file")
    with pytest.raises(pc.ClassifierError, match="bad.pt: cannot be read"):
        pc.load(SIZE, bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"version": "other/1"}, foreign)
    with pytest.raises(pc.ClassifierError, match="foreign.pt: not a patch_classifier"):
        pc.load(SIZE, foreign)
    wrong = tmp_path / "wrong.pt"
    torch.save({"version": pc.VERSION, "modalities": list(patches.MODALITIES), f"size{SIZE}": {"x": torch.zeros(1)}}, wrong)
    with pytest.raises(pc.ClassifierError, match="do not fit"):
        pc.load(SIZE, wrong)


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"version": pc.VERSION, "x": Evil()}, evil)
    with pytest.raises(pc.ClassifierError, match="cannot be read"):
        pc.load(SIZE, evil)


def test_ssim_of_identical_patches_is_one_and_of_noise_near_zero():
    g = torch.Generator().manual_seed(0)
    same = torch.rand(1, 1, SIZE, SIZE, generator=g).repeat(10, 1, 1, 1) * 2 - 1
    assert pc.pairwise_ssim(same) == pytest.approx(1.0, abs=1e-9)
    noise = torch.rand(40, 1, SIZE, SIZE, generator=g) * 2 - 1
    assert abs(pc.pairwise_ssim(noise)) < 0.05
    assert math.isnan(pc.pairwise_ssim(noise[:1]))


def test_frechet_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = (rng.normal(size=3), np.diag([1.0, 2.0, 3.0]))
    assert pc.frechet(a, a) == pytest.approx(0, abs=1e-9)
    # same covariance, shifted mean: the distance is ||d||^2
    assert pc.frechet(a, (a[0] + [1, 2, 2], a[1])) == pytest.approx(9.0)
    # diagonal covariances: sum (sqrt(s1) - sqrt(s2))^2
    b = (a[0], np.diag([4.0, 2.0, 12.0]))
    assert pc.frechet(a, b) == pytest.approx((1 - 2) ** 2 + 0 + (3 ** 0.5 - 12 ** 0.5) ** 2)


def test_real_patches_score_as_a_perfect_generator(judge):
    x, _ = patches.build(SIZE).sample(500, torch.Generator().manual_seed(5))
    s = judge.score(x)
    assert s["modes"] == 5
    assert s["reverse_kl"] < 0.05
    assert s["hq_fraction"] > 0.9
    assert s["frechet_classifier"] < 2.0
    assert s["diversity"] < 0.3  # real patches differ from one another


def test_one_modality_repeated_scores_as_collapse(judge):
    xt, yt = patches.build(SIZE).split(True)
    one = xt[yt == 0][:1].repeat(500, 1, 1, 1)  # a single histology patch, 500 times
    s = judge.score(one)
    assert s["modes"] == 1
    assert s["reverse_kl"] == pytest.approx(math.log(5), abs=1e-6)
    assert s["diversity"] == pytest.approx(1.0, abs=1e-6)  # intra-class collapse: no diversity at all
    real = judge.score(patches.build(SIZE).sample(500, torch.Generator().manual_seed(6))[0])
    assert s["frechet_classifier"] > 10 * real["frechet_classifier"]


def test_two_modalities_in_equal_shares(judge):
    xt, yt = patches.build(SIZE).split(True)
    g = torch.Generator().manual_seed(0)
    two = torch.cat([xt[yt == k][torch.randint(int((yt == k).sum()), (250,), generator=g)] for k in (1, 4)])
    s = judge.score(two)
    assert s["modes"] == 2
    assert s["reverse_kl"] == pytest.approx(math.log(5 / 2), abs=0.1)


def test_blank_and_nan_patches_count_for_no_modality(judge):
    s = judge.score(torch.full((300, 1, SIZE, SIZE), 0.3))
    assert s["modes"] == 0 and s["hq_fraction"] < 0.05
    assert s["reverse_kl"] == pytest.approx(math.log(5))
    assert math.isnan(s["diversity"])
    s = judge.score(torch.full((300, 1, SIZE, SIZE), float("nan")))  # a diverged generator: scored, no crash
    assert s["modes"] == 0 and math.isfinite(s["frechet_classifier"])
