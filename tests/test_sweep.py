"""Sweeps without Ray (``--serial``, the same per-cell function the Ray tasks run): cells and keys,
resume after a kill, failing cells recorded, spec errors named, Wilson intervals, reports."""
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from demos import evidence, sweep

ROOT = Path(__file__).resolve().parent.parent
TIMING = ["host", "cell_wall_s", "cell_cpu_s", "variant_wall_s"]


def write_spec(tmp_path: Path, text: str, name: str = "small") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    return p


SMALL = """
name: small
demo: mode_collapse
variants: [gan, pacgan]
set: {steps: 20, hidden: 8, eval_every: 10}
grid: {dataset: [ring, grid]}
seeds: 3
seeds_per_task: 2
"""


def test_cells_blocks_and_keys(tmp_path):
    spec = sweep.load_spec(write_spec(tmp_path, SMALL))
    cs = sweep.cells(spec)
    # 2 points x seed blocks (0, 1) and (2,): the block is fixed by the spec, not by when it runs
    assert [(c.point["dataset"], c.seeds) for c in cs] == [("ring", (0, 1)), ("ring", (2,)), ("grid", (0, 1)), ("grid", (2,))]
    assert cs[0].config["seed"] == 0 and cs[1].config["seed"] == 2 and cs[0].config["sigma"] == 0.1  # resolved default
    assert len({c.key for c in cs}) == 4
    assert [c.key for c in sweep.cells(spec)] == [c.key for c in cs]  # deterministic
    other = sweep.load_spec(write_spec(tmp_path, SMALL.replace("steps: 20", "steps: 21"), "other"))
    assert not {c.key for c in sweep.cells(other)} & {c.key for c in cs}  # any config change: new keys


def test_serial_sweep_writes_table_claims_and_report(tmp_path):
    spec = sweep.load_spec(write_spec(tmp_path, SMALL))
    df = sweep.run_sweep(spec, tmp_path / "out", serial=True, quiet=True)
    assert len(df) == 2 * 2 * 3 and set(df["variant"]) == {"gan", "pacgan"} and (df["error"] == "").all()
    assert sorted(df["seed"].unique()) == [0, 1, 2]
    assert set(df["role"]) == {"failure", "fix"} and set(df["testbed"]) == {"ring", "grid"}
    assert {"m_modes", "m_hq_fraction", "m_reverse_kl", "p_dataset"} <= set(df.columns)
    # the claim column is the demo's own rule applied to the same numbers
    from demos import mode_collapse as mc

    for _, r in df.iterrows():
        k = 8 if r["testbed"] == "ring" else 25
        want = r["m_modes"] <= k / 2 if r["role"] == "failure" else (
            r["m_modes"] >= (7 if k == 8 else 22) and r["m_hq_fraction"] >= 0.5)
        assert r["claim"] == want
    assert mc.DEMO_ID == df["demo"].iloc[0]
    on_disk = pd.read_parquet(tmp_path / "out" / "small.parquet")
    pd.testing.assert_frame_equal(on_disk, df)
    assert len(pd.read_csv(tmp_path / "out" / "small.csv")) == len(df)
    assert not (tmp_path / "out" / ".small.parts").exists()
    t = evidence.read_table(tmp_path / "out" / "small.parquet")
    assert t.spec["name"] == "small" and t.spec["seeds"] == 3
    md = (tmp_path / "out" / "small.md").read_text()
    assert "| dataset ring | ring | gan | failure |" in md and "task-seconds" in md


def test_killed_sweep_resumes_and_skips_finished_cells(tmp_path, monkeypatch):
    spec = sweep.load_spec(write_spec(tmp_path, SMALL))
    full = sweep.run_sweep(spec, tmp_path / "full", serial=True, quiet=True)
    real, calls = sweep.run_cell, []

    def killed_after_two(cell, nice=0):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the sweep is killed while the third cell trains
        calls.append(cell.key)
        return real(cell, nice)

    monkeypatch.setattr(sweep, "run_cell", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(spec, tmp_path / "resumed", serial=True, quiet=True)
    parts = sorted(p.stem for p in (tmp_path / "resumed" / ".small.parts").glob("*.parquet"))
    assert parts == sorted(calls)
    again = []
    monkeypatch.setattr(sweep, "run_cell", lambda cell, nice=0: again.append(cell.key) or real(cell, nice))
    df = sweep.run_sweep(spec, tmp_path / "resumed", serial=True, quiet=True)
    assert len(again) == 2 and not set(again) & set(calls)  # only the two unfinished cells ran
    pd.testing.assert_frame_equal(df.drop(columns=TIMING), full.drop(columns=TIMING))
    again.clear()
    sweep.run_sweep(spec, tmp_path / "resumed", serial=True, quiet=True)
    assert again == []  # a finished sweep runs nothing


def test_failing_cell_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    from demos import mode_collapse as mc

    spec = sweep.load_spec(write_spec(tmp_path, SMALL))
    real = mc.run

    def flaky(cfg, variants, seeds, *a, **kw):
        if cfg.dataset == "grid" and cfg.seed == 2:
            raise RuntimeError("simulated out-of-memory")
        return real(cfg, variants, seeds, *a, **kw)

    monkeypatch.setattr(mc, "run", flaky)
    df = sweep.run_sweep(spec, tmp_path / "out", serial=True, quiet=True)
    bad = df[df["error"] != ""]
    assert len(bad) == 2 and set(bad["seed"]) == {2} and set(bad["testbed"]) == {""}
    assert bad["error"].str.contains("RuntimeError: simulated out-of-memory").all()
    assert (df[df["error"] == ""]["claim"].notna()).all() and len(df) == 12
    r = evidence.rates(df, ["point", "variant"])
    assert set(r["n"]) == {3, 2} and r["errors"].sum() == 2  # failed rows count in no rate
    monkeypatch.setattr(mc, "run", real)  # the next run retries the failed cell only
    seen = []
    orig = sweep.run_cell
    monkeypatch.setattr(sweep, "run_cell", lambda cell, nice=0: seen.append(cell.seeds) or orig(cell, nice))
    df = sweep.run_sweep(spec, tmp_path / "out", serial=True, quiet=True)
    assert seen == [(2,)] and (df["error"] == "").all() and len(df) == 12


@pytest.mark.parametrize("text, message", [
    ("name: x\ndemo: mode_collapse\nbogus: 1\n", "bogus: Extra inputs are not permitted"),
    ("name: x\ndemo: nope\n", "unknown demo 'nope'"),
    ("name: x\ndemo: mode_collapse\nvariants: [gan, vegan]\n", "variants: unknown vegan"),
    ("name: x\ndemo: mode_collapse\ngrid: {steps: [100, -5]}\n", 'point {"steps": -5}: steps=-5: expected a value in'),
    ("name: x\ndemo: mode_collapse\ngrid: {nope: [1]}\n", "unknown config key 'nope'"),
    ("name: x\ndemo: mode_collapse\nset: {seed: 3}\n", "'seed' is set by the sweep"),
    ("name: x\ndemo: dirac\nseeds: 4\n", "dirac is deterministic"),
    ("name: x\ndemo: mode_collapse\nsetup: {g_norm: true}\n", "only tissue_patches"),
    ("name: x\ndemo: mode_collapse\ngrid: {steps: []}\n", "grid.steps: empty list"),
    ("name: x\ndemo: mode_collapse\nx: {key: lr_d}\n", "x.key: 'lr_d' is not a grid key"),
    ("name: Bad Name\ndemo: mode_collapse\n", "name: String should match pattern"),
    ("- just\n- a list\n", "expected a mapping"),
    ("name: [unclosed\n", "not valid YAML"),
    ("name: x\ndemo: tissue_patches\nsetup: {wings: 2}\n", "unknown Setup field(s) ['wings']"),
])
def test_bad_specs_are_named(tmp_path, text, message):
    with pytest.raises(sweep.SweepError) as e:
        sweep.load_spec(write_spec(tmp_path, text, "bad"))
    assert message in str(e.value) and "bad.yaml" in str(e.value)


def test_cli_dry_run_and_errors(tmp_path):
    spec = write_spec(tmp_path, SMALL)
    r = subprocess.run([sys.executable, "-m", "demos", "sweep", str(spec), "--dry-run", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("todo ") == 4 and "4 cells, 0 done" in r.stderr
    r = subprocess.run([sys.executable, "-m", "demos", "sweep", str(spec), "--seeds", "2"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "give --out too" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "demos", "sweep", str(tmp_path / "missing.yaml")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no such spec file" in r.stderr


def test_every_shipped_spec_is_valid():
    specs = sorted((ROOT / "sweeps").glob("*.yaml"))
    assert specs, "no shipped sweep specs"
    for p in specs:
        s = sweep.load_spec(p)
        assert s.name == p.stem, f"{p.name}: name {s.name!r} differs from the file name"


def test_tissue_setup_is_undone_after_the_cell():
    from demos import tissue_patches as tp

    before = {v: f(tp.Config()) for v, (_, _, f) in tp.VARIANTS.items()}
    with sweep._tissue_setup(tp, {"g_norm": False, "d_norm": False}):
        inside = {v: f(tp.Config()) for v, (_, _, f) in tp.VARIANTS.items()}
    after = {v: f(tp.Config()) for v, (_, _, f) in tp.VARIANTS.items()}
    assert after == before
    assert not inside["fast_g"].g_norm and inside["mbstd"].mbstd and not inside["mbstd"].d_norm
    assert inside["batchnorm"].g_norm  # the variant's own change wins over the base network


# ---- Wilson interval: hand-computed cases ------------------------------------------------------
@pytest.mark.parametrize("k, n, lo, hi", [
    (16, 16, 0.8063, 1.0),      # z²=3.8415: centre (1 + 0.12005)/(1.24009) = 0.90320, half 0.09680
    (0, 8, 0.0, 0.3244),
    (8, 16, 0.2800, 0.7200),    # symmetric at p = 1/2
    (7, 8, 0.5291, 0.9776),
])
def test_wilson_matches_hand_computation(k, n, lo, hi):
    a, b = evidence.wilson(k, n)
    assert a == pytest.approx(lo, abs=5e-4) and b == pytest.approx(hi, abs=5e-4)


def test_wilson_edges():
    assert all(math.isnan(x) for x in evidence.wilson(0, 0))
    for n in range(1, 40):
        for k in range(n + 1):
            a, b = evidence.wilson(k, n)
            assert 0 <= a <= k / n <= b <= 1


def test_matrix_is_built_from_the_tables_not_a_list(tmp_path):
    spec = sweep.load_spec(write_spec(tmp_path, SMALL.replace("name: small", "name: small\npurpose: matrix")))
    sweep.run_sweep(spec, tmp_path, serial=True, quiet=True)
    tables, errors = evidence.load_tables(tmp_path)
    assert errors == [] and len(tables) == 1
    m = evidence.matrix(tables)
    assert set(m["column"]) == {"mode_collapse · ring", "mode_collapse · grid"}
    assert set(m["variant"]) == {"gan", "pacgan"} and (m["n"] == 3).all()
    assert all(json.loads(c)["dataset"] in ("ring", "grid") for c in m["config"])
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    tables, errors = evidence.load_tables(tmp_path)
    assert len(tables) == 1 and errors and "broken.parquet" in errors[0]


def test_a_demo_without_an_adapter_gets_the_contracts_reading(tmp_path, monkeypatch):
    # a new demo (or a recipe preset) needs no entry in sweep.ADAPTERS: the catalogue's failure and
    # the module's success(result, variant, kind) give its roles and claims
    with_adapter = sweep.code_version("mode_collapse")
    monkeypatch.delitem(sweep.ADAPTERS, "mode_collapse")
    spec = sweep.load_spec(write_spec(tmp_path, SMALL.replace("grid: {dataset: [ring, grid]}", "")))
    df = sweep.run_sweep(spec, tmp_path / "out", serial=True, quiet=True)
    assert set(df["testbed"]) == {"default"} and dict(zip(df["variant"], df["role"])) == {"gan": "failure", "pacgan": "fix"}
    assert df["claim"].notna().all() and (df["error"] == "").all()
    assert sweep.cells(spec)[0].code_version != with_adapter  # the generic reading is part of the version


def test_makespan_longest_first():
    # 2 cores, cells 5, 4, 3, 3, 3 longest first: 5 -> core A, 4 -> B, 3 -> B (7), 3 -> A (8), 3 -> B (10): makespan 10
    assert evidence.makespan([3, 5, 3, 4, 3], 2) == 10
    assert evidence.makespan([3, 5, 3, 4, 3], 100) == 5  # more cores than cells: the longest cell
    assert evidence.makespan([2.0] * 8, 4) == 4.0 and evidence.makespan([], 3) == 0


def test_shipped_reports_are_made_from_their_tables():
    """docs/sweeps/NAME.md and the generated blocks of docs/*.md say what the shipped tables hold."""
    tables, errors = evidence.load_tables()
    assert tables and errors == []
    blocks = {}
    for doc in (ROOT / "docs").glob("*.md"):
        for name, body in re.findall(r"<!-- sweep:(\w+) -->(.*?)<!-- /sweep:\1 -->", doc.read_text(), re.S):
            blocks[name] = body
    for t in tables:
        assert (ROOT / "sweeps" / f"{t.name}.yaml").is_file(), f"{t.name}: no spec in sweeps/"
        lines = "\n".join(evidence.report_table(t.rows, [f"m_{m}" for m in t.spec.get("metrics") or []] or None))
        assert lines in t.path.with_suffix(".md").read_text(), f"{t.name}.md is not its table's report"
        if t.name in blocks:
            assert lines in blocks[t.name], f"the docs block of {t.name} is not its table's report"
    assert set(blocks) <= {t.name for t in tables}, "a docs block names a sweep with no shipped table"
