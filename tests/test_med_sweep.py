"""demos/med_sweep.py: how a sweep's variants are merged into one result, and two sweeps of one demo
at once (one per core) keeping each other's variants."""
import threading
import time
import types

from demos import med_gan, med_sweep


def fake_result(variants, config=None, seeds=(0, 1)):
    per = [{"classes": 2, "reverse_kl": 1.0}] * len(seeds)
    return {"demo": "brain_mri", "kind": "brain", "code_version": med_gan.CODE_VERSION, "config": config or {"steps": 5},
            "seeds": list(seeds), "real": {"classes": 7}, "wall_time_s": 1.0,
            "variants": {v: {"label": v, "per_seed": per} for v in variants}}


def test_merge_adds_variants_of_the_same_config_and_replaces_another_configs():
    a, b = fake_result(["plain"]), fake_result(["batchnorm"], seeds=(0, 1, 2))
    both = med_sweep.merge(a, b)
    assert set(both["variants"]) == {"plain", "batchnorm"}
    assert both["variants"]["batchnorm"]["seeds"] == [0, 1, 2]  # a variant keeps its own seeds
    other = med_sweep.merge(a, fake_result(["batchnorm"], config={"steps": 6}))
    assert set(other["variants"]) == {"batchnorm"}  # results of another config are never mixed
    # how often a run was watched is not a setting: those results merge, each variant keeping its cadence
    watched = med_sweep.merge(a, fake_result(["mbstd"], config={"steps": 5, "eval_every": 250, "grid_every": 50}))
    assert set(watched["variants"]) == {"plain", "mbstd"}
    assert watched["variants"]["mbstd"]["cadence"] == {"eval_every": 250, "grid_every": 50}


def test_two_sweeps_at_once_keep_each_others_variants(tmp_path, monkeypatch):
    """Sweep A trains 'plain', sweep B 'batchnorm' and then 'mbstd', at the same time: the shipped
    result ends with all three (each sweep re-reads it under the lock before merging its variant)."""
    shipped = tmp_path / "brain_mri_default.json"

    def run(cfg, variants, seeds, threads=1):
        time.sleep({"plain": 0.3, "batchnorm": 0.1, "mbstd": 0.1}[variants[0]])
        return fake_result(variants)

    mod = types.SimpleNamespace(Config=lambda seed=0: None, run=run)
    monkeypatch.setattr(med_sweep.importlib, "import_module", lambda name: mod)
    monkeypatch.setattr(med_sweep, "SWEEPS", tmp_path / "sweeps")
    monkeypatch.setattr(med_sweep, "DOC", tmp_path / "medical_gans.md")
    monkeypatch.setattr(med_sweep.pretrained, "path_for", lambda demo, name: shipped)
    monkeypatch.setattr(med_sweep.pretrained, "save", lambda result, path: path.write_text(med_sweep.json.dumps(result)))
    monkeypatch.setattr(med_sweep, "write_evidence", lambda demo, result: None)
    monkeypatch.setattr(med_sweep, "write_doc", lambda demo, result: None)
    jobs = [threading.Thread(target=med_sweep.sweep, args=("brain_mri", 2, vs)) for vs in (["plain"], ["batchnorm", "mbstd"])]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join()
    assert set(med_sweep.json.loads(shipped.read_text())["variants"]) == {"plain", "batchnorm", "mbstd"}
