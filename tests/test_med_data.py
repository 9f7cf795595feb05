"""engine/med_data.py: both medical image sets are built from files of installed packages with the
network blocked, have every class in both splits, live in [-1, 1], and sample the uniform mixture."""
import os
import socket

import numpy as np
import pytest
import torch

from engine import med_data


@pytest.fixture(scope="module", params=["brain", "modality"])
def kind(request):
    return request.param


def test_sources_read_from_installed_files_with_the_network_blocked(monkeypatch, tmp_path):
    """No download, not even by nilearn: with sockets refusing, the brain set is rebuilt from scratch
    (and cached where told) and every modality's file is read (cutting its views is plain numpy)."""
    def refuse(*a, **k):
        raise AssertionError("a medical image source tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(med_data, "CACHE", tmp_path)
    med_data.build.cache_clear()
    try:
        ps = med_data.build("brain")
        assert ps.classes == len(med_data.LEVELS) and len(ps.x) > 0
        assert [p.name for p in tmp_path.iterdir()] == [f"brain_32_{med_data.VERSION.replace('/', '_')}.npz"]
        for m in med_data.MODALITIES:
            for src in med_data.MODALITY_SOURCES[m]:
                a = med_data.read_source(src)
                assert a.ndim == 3 and a.shape[2] == 3 and 0 <= a.min() and a.max() <= 1, src.file
    finally:
        med_data.build.cache_clear()


def test_every_source_file_is_inside_its_installed_package():
    srcs = [med_data.MNI] + [s for m in med_data.MODALITIES for s in med_data.MODALITY_SOURCES[m]]
    for s in srcs:
        if s.package != "scikit-image":  # skimage's are read by their loaders (engine/patches.py does the same)
            assert med_data.source_path(s).is_file(), s.file
        assert s.licence and s.citation, s.file


def test_every_class_is_in_both_splits_and_in_range(kind):
    ps = med_data.build(kind)
    assert ps.x.shape[1:] == (med_data.CHANNELS[kind], 32, 32) and ps.x.dtype == torch.float32
    assert torch.isfinite(ps.x).all() and ps.x.min() >= -1 and ps.x.max() <= 1
    assert min(ps.counts(True)) >= 200 and min(ps.counts(False)) >= 60, (ps.counts(True), ps.counts(False))
    for k in range(ps.classes):  # each class spans most of the range (windowing kept contrast)
        xk = ps.x[ps.y == k]
        assert xk.min() < -0.5 and xk.max() > 0.5, med_data.CLASSES[kind][k]


def test_brain_held_out_slices_are_other_slices_than_the_training_ones():
    vol = med_data.mni_volume()
    a, b = med_data.brain_slice(vol, 88), med_data.brain_slice(vol, 89)
    assert a.shape == (32, 32) and not np.allclose(a, b)
    assert set(med_data.HELD_OUT_OFFSETS) < set(med_data.BAND)
    # the levels are ordered from the skull base up and are 16 mm apart: no band overlaps the next
    assert all(z2 - z1 > 2 * max(med_data.BAND) for z1, z2 in zip(med_data.LEVEL_Z, med_data.LEVEL_Z[1:]))


def test_radiographs_are_shown_with_bone_white():
    """MONOCHROME1 (computed radiography) stores bone dark; read_dicom inverts it as a viewer would:
    the lung fields of the chest film are darker than the film's mean."""
    chest = med_data.read_dicom(med_data.source_path(med_data.MODALITY_SOURCES["radiograph"][0]))[..., 0]
    h, w = chest.shape
    lungs = chest[h // 4:h // 2, w // 5:2 * w // 5]
    assert lungs.mean() < chest.mean()


def test_sampling_is_the_uniform_mixture(kind):
    ps = med_data.build(kind)
    _, k = ps.sample(6000, torch.Generator().manual_seed(0))
    share = torch.bincount(k, minlength=ps.classes).float() / 6000
    assert torch.allclose(share, torch.full((ps.classes,), 1 / ps.classes), atol=0.03), share


def test_two_processes_building_the_image_set_at_once_both_succeed(tmp_path, monkeypatch):
    """Two trainers opening a medical page on a fresh server build the cache at the same moment. They
    shared one temporary name, so the slower one's rename found the file gone (FileNotFoundError,
    seen when two CLI runs started together). Replayed deterministically: while this process writes
    its file, a second process (another pid) builds and renames its own. Both must succeed and leave
    one whole cache file."""
    monkeypatch.setattr(med_data, "CACHE", tmp_path)
    real_savez, pid = np.savez_compressed, os.getpid()
    state = {"other": None}

    def savez_while_another_builds(file, **arrays):
        real_savez(file, **arrays)
        if state["other"] is None:  # the other process, mid-write of ours: builds from scratch
            state["other"] = "running"
            monkeypatch.setattr(os, "getpid", lambda: pid + 1)
            state["other"] = med_data.build.__wrapped__("brain")
            monkeypatch.setattr(os, "getpid", lambda: pid)

    monkeypatch.setattr(np, "savez_compressed", savez_while_another_builds)
    med_data.build.cache_clear()
    try:
        ps = med_data.build.__wrapped__("brain")
    finally:
        med_data.build.cache_clear()
    assert torch.equal(ps.x, state["other"].x)
    assert [p.name for p in tmp_path.iterdir()] == [f"brain_32_{med_data.VERSION.replace('/', '_')}.npz"]
    with np.load(next(tmp_path.iterdir())) as f:
        assert int(f["classes"]) == len(med_data.LEVELS) and len(f["x"]) == len(ps.x)
