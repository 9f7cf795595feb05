"""engine/patches.py: the patch set is built offline from scikit-image's own files, one modality per
image, intensity-normalised to [-1, 1], without black surround or flat patches, with a held-out split
that shares no pixel with the training split, and sampled as the uniform mixture."""
import numpy as np
import pytest
import torch

from engine import patches

SIZE = 16


@pytest.fixture(scope="module")
def ps():
    return patches.build(SIZE)


def test_every_image_ships_inside_scikit_image(monkeypatch):
    """No network: every loader reads a file of the installed package (CI has no internet)."""
    import socket

    def refuse(*a, **k):
        raise AssertionError("a patch source tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    patches.image.cache_clear()
    for src in patches.SOURCES:
        a, mask = patches.image(src.id, SIZE)
        assert a.ndim == 2 and a.shape == mask.shape and 0 <= a.min() and a.max() <= 1, src.id
    patches.image.cache_clear()


def test_every_source_loads_offline_and_gives_patches_in_both_splits(ps):
    assert patches.MODALITIES == ("ihc", "fundus", "cell", "microaneurysms", "phantom")
    train, held = ps.counts(True), ps.counts(False)
    assert min(train) >= 200, train  # enough of each modality to learn from
    assert min(held) >= 40, held  # enough to measure the classifier on
    assert ps.x.shape[1:] == (1, SIZE, SIZE)
    assert ps.x.dtype == torch.float32 and torch.isfinite(ps.x).all()


def test_intensities_are_normalised_to_the_tanh_range(ps):
    assert ps.x.min() >= -1 and ps.x.max() <= 1
    for k in range(len(patches.SOURCES)):  # each modality spans most of the range, not a sliver of it
        xk = ps.x[ps.y == k]
        assert xk.min() < -0.8 and xk.max() > 0.8, patches.MODALITIES[k]


def test_no_flat_patch_and_no_black_surround(ps):
    assert (ps.x.flatten(1).std(1) >= patches.MIN_STD - 1e-6).all()
    for src in patches.SOURCES:
        if not src.masked:
            continue
        a, mask = patches.image(src.id, SIZE)
        assert not mask.all() and mask.any(), src.id  # the surround is masked out, the object is kept
        assert not mask[[0, 0, -1, -1], [0, -1, 0, -1]].any(), src.id  # the corners are surround
        assert (a[~mask] < 0.1).mean() > 0.8, src.id  # what is masked is the (nearly) black surround
        # ... and what is kept is mostly not black (the phantom's ventricles are dark, ~16 % of it)
        assert (a[mask] < 0.06).mean() < 0.25, src.id


def test_cut_keeps_only_windows_wholly_inside_the_mask():
    a = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    inside = np.zeros((40, 40), bool)
    inside[5:25, 5:25] = True  # a 20x20 square: 16-px windows fit at offsets 5..9 only
    p = patches._cut(a, inside, 16, 1)
    assert len(p) == 25
    assert np.array_equal(p[0], a[5:21, 5:21])


def test_held_out_split_shares_no_pixel_with_training():
    shape = (200, 300)
    held = patches.held_out_mask(shape, SIZE)
    assert 0.15 < held.mean() < 0.25  # one tile in five
    inside_train, inside_held = ~held, held
    # a training window is wholly in ~held and a held-out one wholly in held: disjoint by construction,
    # and every held-out tile is surrounded by training tiles, so the masks themselves never overlap
    assert not (inside_train & inside_held).any()
    ok_train = np.lib.stride_tricks.sliding_window_view(inside_train, (SIZE, SIZE)).all(axis=(2, 3))
    ok_held = np.lib.stride_tricks.sliding_window_view(inside_held, (SIZE, SIZE)).all(axis=(2, 3))
    assert ok_train.any() and ok_held.any()


def test_sample_is_the_uniform_mixture_and_reproducible(ps):
    x, k = ps.sample(5000, torch.Generator().manual_seed(0))
    share = torch.bincount(k, minlength=5).float() / 5000
    assert torch.allclose(share, torch.full((5,), 0.2), atol=0.03), share
    x2, k2 = ps.sample(5000, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2) and torch.equal(k, k2)
    # every sampled patch is a training patch of the modality it is labelled with
    xt, yt = ps.split(True)
    first = x[:20].flatten(1)
    match = (first[:, None, :] == xt.flatten(1)[None]).all(2)
    assert match.any(1).all()
    assert all(int(yt[match[i]][0]) == int(k[i]) for i in range(20))


def test_outlier_patches_are_not_biomedical_and_normalised():
    o = patches.outliers(SIZE)
    assert len(o) > 1000 and o.shape[1:] == (1, SIZE, SIZE)
    assert o.min() >= -1 and o.max() <= 1
    assert not set(patches.OUTLIER_IMAGES) & {s.loader for s in patches.SOURCES}
