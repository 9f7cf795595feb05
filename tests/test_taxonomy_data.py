"""Checks of the shipped taxonomy content (taxonomy/data/*.yaml), not of the loader.

Self-contained: nothing here reads shared/REFERENCES.md; the key references it lists are pinned
below instead. Fast: one load of two YAML files, shared by all tests.
"""
from __future__ import annotations

import re

import pytest

from demos.catalog import CATALOG
from taxonomy import load_taxonomy
from taxonomy.load import ENV_VAR
from taxonomy.schema import MODALITIES

CHALLENGES = {"mode_collapse", "non_convergence", "instability"}
FAMILIES = {"architecture", "loss", "regularisation", "optimisation"}

# Survey and technique papers that the taxonomy must keep citing by these exact keys.
KEY_REFERENCES = [
    "saad2024survey", "saad2022msgsagan", "saad2022aiin", "saad2023aiin", "saad2024earlystop",
    "goodfellow2014", "radford2016", "salimans2016", "metz2017", "arjovsky2017principled",
    "arjovsky2017wgan", "gulrajani2017", "mao2017lsgan", "heusel2017", "mescheder2018",
    "mescheder2017numerics", "miyato2018", "karras2018pggan", "karras2019stylegan", "karras2020ada",
    "zhao2020diffaug", "zhang2019sagan", "brock2019biggan", "lin2018pacgan", "srivastava2017veegan",
    "che2017moderegularized", "mao2019msgan", "durugkar2017gman", "ghosh2018madgan", "hoang2018mgan",
    "nguyen2017d2gan", "jolicoeur2019relativistic", "lim2017geometric", "nowozin2016fgan",
    "sonderby2017instancenoise", "roth2017stabilizing", "kodali2017dragan", "berthelot2017began",
    "odena2017acgan", "mirza2014cgan", "larsen2016vaegan", "rosca2017alphagan", "karnewar2020msggan",
    "daskalakis2018optimism", "gidel2019variational", "yazici2019averaging", "nagarajan2017locally",
    "zhang2020cr", "kurach2019largescale", "lucic2018equal", "binkowski2018kid", "kynkaanniemi2019pr",
    "isola2017pix2pix", "zhu2017cyclegan",
]
# A few pinned facts (id as given in shared/REFERENCES.md).
PINNED_IDS = {
    "saad2024survey": ("2201.07646", "10.1007/s10462-023-10624-y"),
    "goodfellow2014": ("1406.2661", None),
    "gulrajani2017": ("1704.00028", None),
    "lin2018pacgan": ("1712.04086", None),
    "saad2022aiin": (None, "10.1109/EMBC48229.2022.9871260"),
    "saad2023aiin": ("2309.12245", None),
    "saad2024earlystop": ("2405.20987", None),
    "waheed2020covidgan": (None, "10.1109/ACCESS.2020.2994762"),
}
# Techniques the taxonomy must keep (ids are part of URLs).
KEY_TECHNIQUES = {
    "dcgan", "conditional_gan", "acgan", "mad_gan", "mgan", "gman", "d2gan", "vae_gan", "alpha_gan",
    "veegan", "progressive_growing", "msg_gan", "self_attention", "msg_sagan", "style_based_generator",
    "packing", "minibatch_discrimination", "minibatch_stddev", "minimax_loss", "non_saturating_loss",
    "wasserstein_loss", "wgan_gp", "least_squares_loss", "hinge_loss", "relativistic_loss",
    "f_divergence", "mode_regularised_loss", "mode_seeking_loss", "feature_matching",
    "perceptual_loss", "began", "spectral_norm", "zero_centred_gradient_penalty", "dragan",
    "instance_noise", "noise_regularisation", "consistency_regularisation",
    "one_sided_label_smoothing", "batch_norm", "adaptive_input_normalisation", "diffaugment", "ada",
    "ttur", "unrolled_optimisation", "consensus_optimisation", "extragradient",
    "optimistic_gradient", "weight_averaging", "critic_update_ratio", "early_stopping",
    "locally_stable_gradient_regulariser",
}
# Techniques that have a live demo, and the demo variant they must point at.
DEMO_LINKS = {  # technique -> (demo, variant): every link the shipped taxonomy must keep
    "packing": ("mode_collapse", "pacgan"),
    "unrolled_optimisation": ("mode_collapse", "unrolled"),
    "minibatch_stddev": ("mode_collapse", "mbstd"),
    "wgan_gp": ("mode_collapse", "wgan_gp"),
    "minimax_loss": ("vanishing_gradients", "saturating"),
    "least_squares_loss": ("vanishing_gradients", "lsgan"),
    "non_saturating_loss": ("instability", "nonsaturating"),
    "spectral_norm": ("instability", "spectral"),
    "zero_centred_gradient_penalty": ("oscillation", "r1"),
    "instance_noise": ("oscillation", "instance_noise"),
    "ttur": ("oscillation", "ttur"),
    "weight_averaging": ("oscillation", "ema"),
    "dcgan": ("tissue_patches", "batchnorm"),
    "batch_norm": ("tissue_patches", "batchnorm"),
    "hinge_loss": ("tissue_patches", "sn_hinge"),
    "diffaugment": ("tissue_patches", "diffaug"),
}


@pytest.fixture(scope="module")
def tax():
    mp = pytest.MonkeyPatch()
    mp.delenv(ENV_VAR, raising=False)  # always the shipped file
    try:
        yield load_taxonomy()
    finally:
        mp.undo()


def test_shipped_taxonomy_loads(tax):
    assert tax.source == "taxonomy.yaml"
    assert tax.meta.survey == "saad2024survey"
    assert "challenge-first" in tax.meta.provenance and "primary papers" in tax.meta.provenance


def test_challenges_and_families(tax):
    assert set(tax.challenges) == CHALLENGES
    assert set(tax.families) == FAMILIES
    for c in tax.challenges.values():
        assert len(c.symptoms) >= 3, c.id
    mc = tax.challenges["mode_collapse"].summary
    assert "identical image" in mc and "uniform image" in mc
    assert "intra-class" in mc and "inter-class" in mc
    assert "saad2022aiin" in mc and "saad2023aiin" in mc
    assert "Nash equilibrium" in tax.challenges["non_convergence"].summary


def test_enough_techniques(tax):
    assert len(tax.techniques) >= 35
    missing = KEY_TECHNIQUES - set(tax.techniques)
    assert not missing, f"techniques missing: {sorted(missing)}"


def test_every_challenge_and_family_is_a_primary_home(tax):
    homes_c = {t.primary_challenge for t in tax.techniques.values()}
    homes_f = {t.family for t in tax.techniques.values()}
    assert homes_c == CHALLENGES
    assert homes_f == FAMILIES
    # spread: at least a handful under each challenge and family
    for c in CHALLENGES:
        assert sum(t.primary_challenge == c for t in tax.techniques.values()) >= 5, c
    for f in FAMILIES:
        assert sum(t.family == f for t in tax.techniques.values()) >= 5, f
    # and every challenge is addressed from at least three families
    for c in CHALLENGES:
        fams = {t.family for t in tax.techniques.values() if c in t.challenges}
        assert len(fams) >= 3, (c, fams)


def test_primary_challenge_listed_and_no_duplicates(tax):
    for t in tax.techniques.values():
        assert t.primary_challenge in t.challenges, t.id
        assert len(set(t.challenges)) == len(t.challenges), t.id
        assert t.family in FAMILIES, t.id


def test_every_cited_key_resolves(tax):
    for t in tax.techniques.values():
        keys = tax.cited_keys(t)
        assert t.reference in keys
        unresolved = [k for k in keys if k not in tax.references]
        assert not unresolved, f"{t.id}: {unresolved}"
    assert tax.meta.survey in tax.references


def test_builds_on_resolves(tax):
    for t in tax.techniques.values():
        for b in t.builds_on:
            assert b in tax.techniques and b != t.id, (t.id, b)


def test_key_references_present(tax):
    missing = [k for k in KEY_REFERENCES if k not in tax.references]
    assert not missing, f"bibliography is missing {missing}"
    for k in KEY_REFERENCES:
        assert tax.references[k].kind in {"survey", "technique", "metric"}, k
    assert tax.references["saad2024survey"].kind == "survey"


@pytest.mark.parametrize("key", sorted(PINNED_IDS))
def test_pinned_identifiers(tax, key):
    arxiv, doi = PINNED_IDS[key]
    ref = tax.references[key]
    if arxiv:
        assert ref.arxiv == arxiv
    if doi:
        assert ref.doi == doi


def test_reference_status_is_honest(tax):
    for key, ref in tax.references.items():
        if ref.status == "partial":
            assert ref.note, f"{key}: partial needs a note saying what is missing"
        if ref.status == "unverified":
            assert not ref.arxiv and not ref.doi, f"{key}: unverified entries carry no id"
    for key in ("roth2017stabilizing", "daskalakis2018optimism", "binkowski2018kid", "salehinejad2018cxr"):
        assert tax.references[key].status == "partial", key


def test_techniques_cite_technique_papers(tax):
    for t in tax.techniques.values():
        assert tax.references[t.reference].kind in {"technique", "survey"}, t.id


def test_biomedical_uses(tax):
    uses = [(t.id, u) for t in tax.techniques.values() for u in t.biomedical_uses]
    assert len(uses) >= 30
    with_uses = sum(1 for t in tax.techniques.values() if t.biomedical_uses)
    assert with_uses >= 15
    for tid, u in uses:
        assert u.modality in MODALITIES, (tid, u.modality)
        assert tax.references[u.ref].kind in {"application", "technique"}, (tid, u.ref)
    # a few well-known pairings
    pairs = {(tid, u.ref) for tid, u in uses}
    for pair in [
        ("acgan", "waheed2020covidgan"),
        ("dcgan", "frid-adar2018"),
        ("progressive_growing", "beers2018pggan"),
        ("wgan_gp", "chen2018mdcsrn"),
        ("least_squares_loss", "mardani2019gancs"),
        ("msg_sagan", "saad2022msgsagan"),
        ("adaptive_input_normalisation", "saad2023aiin"),
    ]:
        assert pair in pairs, pair


def test_demo_links_exist_in_catalog(tax):
    linked = {t.id: t.demo for t in tax.techniques.values() if t.demo}
    for tid, demo in linked.items():
        assert demo.id in CATALOG, (tid, demo.id)
        assert demo.variant in CATALOG[demo.id].variants, (tid, demo.variant)
    for tid, (demo, variant) in DEMO_LINKS.items():
        assert tid in linked and (linked[tid].id, linked[tid].variant) == (demo, variant), tid


def test_equations_are_bare_latex(tax):
    for t in tax.techniques.values():
        if t.equation is None:
            continue
        assert "$" not in t.equation, t.id
        assert t.equation.count("{") == t.equation.count("}"), t.id
        assert not re.search(r"\\\[|\\\]|\\begin\{equation", t.equation), t.id


def _squash(s: str) -> str:
    """Drop whitespace, LaTeX spacing (\\, \\; \\quad ...) and delimiter sizing (\\big ...)."""
    s = re.sub(r"\\(?:[,;!:]|q?quad\b|[bB]igg?[lr]?\b)", "", s)
    return re.sub(r"\s+", "", s)


def test_saturating_and_non_saturating_losses(tax):
    sat = tax.techniques["minimax_loss"]
    assert "saturating" in sat.name.lower()
    eq = _squash(sat.equation)
    assert r"\log(1-D(G(z)))" in eq
    assert r"\min_G\max_D" in eq
    ns = _squash(tax.techniques["non_saturating_loss"].equation)
    assert r"\max_G" in ns and r"\logD(G(z))" in ns
    assert "1-D(G(z))" not in ns


def test_key_equations(tax):
    eq = {tid: _squash(t.equation or "") for tid, t in tax.techniques.items()}
    # WGAN-GP: unit-centred penalty on random interpolates
    assert r"(\|\nabla_{\hat{x}}D(\hat{x})\|_2-1)^2" in eq["wgan_gp"]
    assert r"\hat{x}=\epsilonx+(1-\epsilon)G(z)" in eq["wgan_gp"]
    # R1: zero-centred, gamma/2, on the data distribution
    assert r"R_1(\psi)=\frac{\gamma}{2}\mathbb{E}_{x\simp_{data}}" in eq["zero_centred_gradient_penalty"]
    # PacGAN: the discriminator takes m samples
    assert r"D(x_1,\dots,x_m)" in eq["packing"]
    # hinge loss
    assert r"\max(0,1-D(x))" in eq["hinge_loss"] and r"\max(0,1+D(G(z)))" in eq["hinge_loss"]
    assert r"L_G=-\mathbb{E}_{z\simp_z}[D(G(z))]" in eq["hinge_loss"]
    # TTUR: two learning rates
    assert r"a\neb" in eq["ttur"]
    # minibatch stddev: mean over features of a stddev over the batch
    assert r"\frac{1}{|F|}\sum_{f\inF}\sqrt{\frac{1}{N}\sum_{n=1}^{N}" in eq["minibatch_stddev"]


def test_text_fields_are_filled(tax):
    for t in tax.techniques.values():
        assert 20 <= len(t.summary) <= 600, t.id
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", t.mechanism.strip()) if s]
        assert 2 <= len(sentences) <= 5, (t.id, len(sentences))
        assert 1990 <= t.year <= 2030
