"""AppTest of the two medical-image pages: the shipped comparison first (three grids, four curves,
the table, data sources with the classifier's accuracy), URL state and friendly messages, the honest
note beside techniques under the bar, a missing shipped result falls back to a live run, and a short
live run through the job queue reaches its table."""
import pytest
from streamlit.testing.v1 import AppTest

from apptest import open_page, rerun_until, texts  # noqa: E402

from demos import med_gan
from engine import pretrained

PAGES = {"brain_mri": "../app_pages/demo_brain_mri.py", "modalities": "../app_pages/demo_modalities.py"}


def page(demo: str, **params) -> AppTest:
    return open_page(PAGES[demo], 120, **params)


def result_table(at):
    return next((d.value for d in at.dataframe if "claim holds in" in d.value.columns), None)


def images(at) -> int:
    def walk(node) -> int:
        return (type(node).__name__ == "Image") + sum(walk(c) for c in getattr(node, "children", {}).values())
    return walk(at._tree)


@pytest.mark.parametrize("demo", list(PAGES))
def test_opens_with_the_shipped_comparison_and_names_its_sources(demo):
    at = page(demo)
    assert not at.exception
    assert images(at) == 3  # failure, fix and real grids
    assert len(at.get("plotly_chart")) == 4
    assert "Shipped result" in texts(at)
    table = result_table(at)
    assert list(table[""]) == ["No normalisation (failure)", "Batch normalisation (DCGAN)", "Real images"]
    assert "held-out accuracy" in texts(at) and "licence" in " ".join(
        " ".join(d.value.columns) for d in at.dataframe)


@pytest.mark.parametrize("demo", list(PAGES))
def test_every_shipped_technique_opens_with_its_measured_rate(demo):
    """Each technique of the shipped result opens beside the failure, with a note that says whether
    it is claimed (success), under the bar (honest note) or measured on too few seeds (info)."""
    shipped = pretrained.load(pretrained.path_for(demo, "default"), med_gan.CODE_VERSION)
    for fix in [v for v in shipped["variants"] if v != med_gan.FAILURE]:
        at = page(demo, variant=fix)
        assert not at.exception, fix
        assert list(result_table(at)[""])[1] == med_gan.label(fix)
        notes = [e.value for kind in ("success", "warning", "info") for e in getattr(at, kind)]
        assert any(("claimed" in n or "Honest note" in n or "too few" in n) for n in notes), fix


def test_a_shipped_result_that_differs_only_in_frame_cadence_still_opens():
    """The brain's shipped result was scored every 100 steps; the page now scores every 250. Only
    the cadence may differ: a changed setting (steps) means the shipped result does not describe it."""
    from app_pages import live
    from demos import brain_mri

    shipped = pretrained.load(pretrained.path_for("brain_mri", "default"), med_gan.CODE_VERSION)
    cfg = brain_mri.Config(**{k: v for k, v in shipped["config"].items() if k in med_gan.CADENCE})
    assert cfg != brain_mri.Config()  # the cadence really differs from today's defaults
    args = ("brain_mri", "default", med_gan.CODE_VERSION)
    assert live.shipped_result(*args, brain_mri.Config(), "batchnorm", ignore=med_gan.CADENCE) is not None
    assert live.shipped_result(*args, brain_mri.Config(), "batchnorm") is None
    assert live.shipped_result(*args, brain_mri.Config(steps=1400), "batchnorm", ignore=med_gan.CADENCE) is None


def test_a_frames_caption_names_what_was_recognised_and_at_which_step_it_was_scored():
    from app_pages.med_page import frame_caption

    names, scores = ("a", "b", "c"), [{"histogram": [3, 0, 5]}]
    assert frame_caption({"grid": [], "metrics": None, "scored_step": None}, names, "level") == "Seed 0, not scored yet"
    assert frame_caption({"metrics": scores, "scored_step": 250}, names, "level") == \
        "Seed 0, scored at step 250, recognised: a 3 · c 5"
    assert frame_caption({"metrics": scores}, names, "level") == "Seed 0, recognised: a 3 · c 5"  # a finished result
    assert frame_caption({"metrics": [{"histogram": [0, 0, 0]}]}, names, "level") == \
        "Seed 0, recognised: no image recognised as any level"


def test_unknown_technique_and_bad_numbers_get_friendly_handling():
    at = page("modalities", variant="bogus", med_seeds="999", med_steps="-4", med_lr_g="banana")
    assert not at.exception
    assert any("bogus" in w.value for w in at.warning)
    assert at.selectbox(key="variant").value == "batchnorm"


def test_missing_shipped_result_falls_back_to_a_live_run(monkeypatch, tmp_path):
    monkeypatch.setattr(pretrained, "ROOT", tmp_path)
    at = page("brain_mri")
    assert not at.exception
    assert "no shipped result (file missing)" in texts(at)
    assert at.button[0].label == "▶ Run"


def test_live_run_reaches_its_result():
    at = page("brain_mri", med_steps="50", med_seeds="1")
    assert "Shipped result" not in texts(at)
    at.button[0].click().run()
    rerun_until(at, lambda at: result_table(at) is not None, 180, every=0.5)
    assert not at.exception
    assert result_table(at) is not None, "the live run never produced its table"
    assert "Live run, 1 seeds" in texts(at) and images(at) == 3


def test_brain_opens_with_batch_norm_claimed_and_modalities_with_an_honest_note():
    """The shipped 16-seed results: on the brain batch norm meets the fix bar in >= 90 % of seeds
    (claimed, a success note); on the modalities it does not (the honest note)."""
    brain, mods = page("brain_mri"), page("modalities")
    assert any("claimed" in s.value for s in brain.success)
    assert not mods.success and any("Honest note" in w.value for w in mods.warning)


def test_a_second_viewer_rebuilds_no_image_and_no_figure():
    """Every poll of every watcher redraws a live view: its three grids (PNG) and four figures are
    built once per job event and shared (live.shared / live.chart). The shipped view is one such
    frame, so a second session opening it builds nothing."""
    from app_pages import live

    page("brain_mri")  # builds the shipped view's pictures and figures (or finds them from earlier tests)
    before = dict(live.BUILDS)
    at = page("brain_mri")
    assert not at.exception and images(at) == 3
    assert live.BUILDS["built"] == before["built"]
    assert live.BUILDS["shared"] - before["shared"] == 3 + 4
