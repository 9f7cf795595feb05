"""engine/med_classifier.py: MS-SSIM, improved precision / recall on hand-made cases, the shipped
judges' accuracy, and the metrics on real images against a collapsed copy of one image."""
import json
import math

import pytest
import torch

from engine import med_classifier as mc
from engine import med_data


def test_ms_ssim_is_one_for_identical_images_and_low_for_unrelated_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    b = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    assert torch.allclose(mc.ms_ssim(a, a), torch.ones(4, dtype=torch.float64))
    assert (mc.ms_ssim(a, b) < 0.2).all()
    assert torch.allclose(mc.ms_ssim(a, b), mc.ms_ssim(b, a))
    assert math.isnan(mc.mean_pairwise_ms_ssim(a[:1]))  # one image has no pair


def test_box_mean_is_the_stride_one_window_average():
    x = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4)
    # top-left 3 x 3 window: rows 0-2, columns 0-2 of 0..15 -> mean of (0,1,2,4,5,6,8,9,10) = 5
    assert mc.box_mean(x, 3)[0, 0, 0, 0].item() == 5.0
    y = torch.rand(7, 1, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    assert torch.allclose(mc.box_mean(y, 5), torch.nn.functional.avg_pool2d(y, 5, 1), rtol=0, atol=1e-14)


def test_ms_ssim_weights_are_wang_et_al_renormalised():
    w = torch.tensor(mc.MS_WEIGHTS)
    assert torch.allclose(w, torch.tensor([0.0448, 0.2856, 0.3001]))
    # a brightness change moves only the luminance term (coarsest scale) while structure is unchanged
    a = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.5
    s = mc.ms_ssim(a, a + 0.3)
    assert (s < 1).all() and (s > 0.8).all()


def test_precision_recall_on_a_hand_computed_case():
    """Real 0, 1, 2, 3 on a line: with k = 1 every real ball has radius 1. Fake 0.5 lies in one
    (precision 1/2: 10 lies in none); the two fakes are 9.5 apart, so their balls (radius 9.5)
    hold every real point (recall 1)."""
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    fake = torch.tensor([[0.5], [10.0]])
    assert mc.precision_recall(real, fake, k=1) == (0.5, 1.0)
    # two fakes 0.5 apart and far from the reals: balls of radius 0.5 hold no real point, and vice versa
    assert mc.precision_recall(real, torch.tensor([[100.0], [100.5]]), k=1) == (0.0, 0.0)
    # two fakes 100 apart: the ball around 100 (radius 100) reaches every real point (recall 1)
    assert mc.precision_recall(real, torch.tensor([[100.0], [200.0]]), k=1) == (0.0, 1.0)


@pytest.mark.parametrize("kind", list(med_data.BUILDERS))
def test_shipped_classifier_meets_the_accuracy_bar(kind):
    rep = json.loads(mc.REPORT.read_text())
    assert rep["version"] == mc.VERSION
    assert rep["sets"][kind]["accuracy"] >= mc.REQUIRED_ACCURACY, rep["sets"][kind]
    assert rep["sets"][kind]["fresh_other_called_other"] >= 0.9  # blobs and photos are "none of these"
    mc.load(kind)  # and the weights load


@pytest.mark.parametrize("kind", list(med_data.BUILDERS))
def test_real_images_cover_every_class_and_one_repeated_image_covers_one(kind):
    jd = mc.judge(kind)
    real = jd.real_reference(256)
    k = len(med_data.CLASSES[kind])
    assert real["classes"] == k and real["reverse_kl"] < 0.1 and real["recognised"] > 0.9
    assert real["precision"] > 0.6 and real["recall"] > 0.6
    x, _ = med_data.build(kind).sample(1, torch.Generator().manual_seed(3))
    one = x.expand(256, -1, -1, -1) + 0.01 * torch.randn(256, *x.shape[1:], generator=torch.Generator().manual_seed(4))
    s = jd.score(one.clamp(-1, 1))
    assert s["classes"] == 1 and s["reverse_kl"] > math.log(k) - 0.01
    assert s["recall"] < 0.1 and s["ms_ssim"] > real["ms_ssim"]
    assert s["frechet"] > 5 * real["frechet"]


def test_a_corrupt_weights_file_is_named(tmp_path):
    bad = tmp_path / "med_classifier.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(mc.ClassifierError, match="med_classifier.pt"):
        mc.load("brain", bad)
    with pytest.raises(mc.ClassifierError, match="missing"):
        mc.load("brain", tmp_path / "nope.pt")
