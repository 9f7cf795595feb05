"""``python -m demos``: list, run (JSON shape, samples), and clear errors with exit code 2."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "demos", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_list_json():
    out = cli("list", "--json")
    assert out.returncode == 0
    demos = {d["id"]: d for d in json.loads(out.stdout)}
    mc = demos["mode_collapse"]
    assert mc["challenge"] == "mode_collapse" and {"gan", "pacgan", "unrolled", "mbstd", "wgan_gp"} <= set(mc["variants"])
    assert all({"id", "title", "challenge", "variants"} <= set(d) for d in demos.values())


def test_run_writes_json_and_samples(tmp_path):
    out_json, samples = tmp_path / "out.json", tmp_path / "samples"
    r = cli("run", "mode_collapse", "--dataset", "grid", "--variants", "gan,pacgan", "--seeds", "2", "--steps", "20",
            "--set", "hidden=16", "--set", "pack=3", "--json", str(out_json), "--save-samples", str(samples),
            "--quiet", "--threads", "1")
    assert r.returncode == 0, r.stderr
    res = json.loads(out_json.read_text())
    assert res["config"]["dataset"] == "grid" and res["config"]["steps"] == 20 and res["config"]["pack"] == 3
    assert res["config"]["hidden"] == 16 and res["seeds"] == [0, 1] and res["wall_time_s"] > 0
    for v in ("gan", "pacgan"):
        var = res["variants"][v]
        assert len(var["per_seed"]) == 2
        assert {"modes", "hq_fraction", "reverse_kl"} <= set(var["per_seed"][0])
        assert {"modes", "hq_fraction", "reverse_kl"} <= set(var["mean"]) and set(var["mean"]) == set(var["sd"])
        assert var["wall_time_s"] > 0
        for s in (0, 1):
            x = np.load(samples / f"{v}_seed{s}.npy")
            assert x.shape == (2500, 2)


@pytest.mark.parametrize("args, message", [
    (["--set", "nope=1"], "unknown config key 'nope'"),
    (["--set", "steps=abc"], "expected an integer"),
    (["--steps", "-3"], "expected a value in"),
    (["--set", "lr_g=nan"], "finite"),
    (["--dataset", "spiral"], "expected one of ring, grid"),
    (["--variants", "gan,bogus"], "unknown variant(s) bogus"),
    (["--set", "steps"], "expected key=value"),
    (["--seeds", "0"], "expected 1..64"),
])
def test_bad_input_exits_2_with_a_clear_message(args, message):
    r = cli("run", "mode_collapse", *args, "--quiet")
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_unknown_demo():
    r = cli("run", "nope")
    assert r.returncode == 2 and "unknown demo 'nope'" in r.stderr


def test_run_tissue_patches_writes_the_issue_metrics(tmp_path):
    out_json = tmp_path / "tp.json"
    r = cli("run", "tissue_patches", "--variants", "plain,mbstd", "--seeds", "2", "--steps", "20",
            "--set", "eval_samples=200", "--json", str(out_json), "--quiet", "--threads", "1")
    assert r.returncode == 0, r.stderr
    res = json.loads(out_json.read_text())
    assert res["demo"] == "tissue_patches" and res["seeds"] == [0, 1] and res["config"]["steps"] == 20
    for v in ("plain", "mbstd"):
        var = res["variants"][v]
        assert len(var["per_seed"]) == 2
        for p in var["per_seed"]:
            assert {"modes", "reverse_kl", "diversity", "frechet_classifier", "wall_time_s"} <= set(p)
            assert 0 <= p["modes"] <= 5 and p["wall_time_s"] > 0
        assert len(var["grid"]) == 36


def test_run_tissue_patches_rejects_unknown_variant():
    r = cli("run", "tissue_patches", "--variants", "plain,aiin", "--quiet")
    assert r.returncode == 2 and "unknown variant(s) aiin" in r.stderr
