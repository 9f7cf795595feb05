"""The papers' presets (demos/papers.py): the protocol's constants, the demo contract, and the
published figures the evidence page compares with."""
import pytest

from demos import evidence, papers
from engine import data2d


def test_paper_constants():
    # PacGAN's code: ring radius 1 sd 0.01, grid means {-4,-2,0,2,4}^2 sd 0.05, Adam 1e-4 beta1 0.8, batch 100
    assert papers.resolve(papers.Config(dataset="ring")).sigma == 0.01
    assert papers.resolve(papers.Config(dataset="grid")).sigma == 0.05
    assert papers.resolve(papers.Config(dataset="grid", sigma=0.2)).sigma == 0.2
    c = papers.Config()
    assert (c.lr, c.beta1, c.batch, c.z_dim, c.unroll) == (1e-4, 0.8, 100, 2, 5)
    assert sorted({tuple(x) for x in data2d.grid_means().tolist()}) == [(a, b) for a in (-4., -2., 0., 2., 4.)
                                                                          for b in (-4., -2., 0., 2., 4.)]
    s = papers.setups(c)
    assert [s[v].pack for v in ("gan", "pacgan2", "pacgan3", "pacgan4")] == [1, 2, 3, 4]
    assert s["unrolled"].unroll == 5 and s["gan"].loss == "nonsaturating"


def test_run_contract_and_metrics():
    r = papers.run(papers.Config(dataset="ring", steps=10, eval_every=10), ["gan", "pacgan3"], seeds=2)
    assert r["seeds"] == [0, 1] and set(r["variants"]) == {"gan", "pacgan3"}
    for v in r["variants"].values():
        assert len(v["per_seed"]) == 2 and set(v["per_seed"][0]) == {"modes", "hq_fraction", "reverse_kl"}
        assert 0 <= v["mean"]["modes"] <= 8 and 0 <= v["mean"]["hq_fraction"] <= 1
    with pytest.raises(ValueError):
        papers.run(papers.Config(), ["veegan"], seeds=1)


def test_published_figures_match_the_references():
    pac = papers.PUBLISHED["pacgan_table1"]["rows"]
    assert pac[("grid", "pacgan4")] == {"modes": 24.8, "hq_fraction": 0.936, "reverse_kl": 0.04}
    assert pac[("ring", "gan")]["modes"] == 6.3 and pac[("ring", "pacgan3")] is None
    vee = papers.PUBLISHED["veegan_table1"]["rows"]
    assert vee[("grid", "unrolled")] == {"modes": 23.6, "hq_fraction": 0.16}


def test_paper_comparison_ours_minus_paper():
    import pandas as pd

    rows = pd.DataFrame([{"testbed": "grid", "variant": "gan", "error": "", "m_modes": m, "m_hq_fraction": h,
                          "m_reverse_kl": 1.0} for m, h in ((10, 0.5), (12, 0.7))])
    t = evidence.paper_comparison(rows, papers.PUBLISHED["pacgan_table1"]).set_index(["testbed", "method"])
    g = t.loc[("grid", "gan")]
    # mean 11, sd sqrt(2), standard error 1; HQ 60 % vs 94.8 %
    assert g["modes (ours)"] == "11.00 ± 1.00" and g["Δ modes"] == "-6.30"
    assert g["HQ % (ours)"] == "60.00 ± 10.00" and g["Δ HQ %"] == "-34.80"
    assert t.loc[("ring", "pacgan2"), "modes (ours)"] == "not run"
    v = evidence.paper_comparison(rows, papers.PUBLISHED["veegan_table1"]).set_index(["testbed", "method"])
    assert "not implemented" in v.loc[("ring", "veegan"), "modes (ours)"]
