"""AppTest of the Recipe lab page: a technique demo opens on its preset (shipped result and the
measured rate beside the plots), both recipes live in the URL, bad URLs get messages naming what is
wrong, and a small live run goes through the job queue to its table and downloads."""
from streamlit.testing.v1 import AppTest

from apptest import open_page, rerun_until, texts  # noqa: E402

PAGE = "../app_pages/demo_lab.py"


def page(**params) -> AppTest:
    return open_page(PAGE, 90, **params)


def test_a_technique_demo_opens_on_its_shipped_result_with_the_measured_rate():
    at = page(variant="packing")
    assert not at.exception
    assert at.query_params["b"] == "pacgan" if "b" in at.query_params else True  # pacgan is B's default
    t = texts(at)
    assert "Technique demo" in t and "packing" in t
    assert "B undoes it in" in t and "seeds" in t  # the claim line beside the plots
    assert len(at.get("plotly_chart")) == 5  # two sample plots, three curves


def test_recipes_come_from_the_url():
    at = page(a="r1.gamma=1", b="pacgan.pack=3,ema")
    assert not at.exception
    t = texts(at)
    assert "r1.gamma=1" in " ".join(c.value for c in at.code)
    assert "pacgan.pack=3,ema" in " ".join(c.value for c in at.code)
    assert "Technique demo" not in t


def test_bad_urls_get_messages_not_exceptions():
    at = page(b="bogus_option")
    assert not at.exception
    assert any("bogus_option" in e.value for e in at.error), texts(at)
    at = page(a="r1.gamma=-5")
    assert not at.exception and any("gamma" in e.value for e in at.error)
    at = page(b="wgan_gp,lsgan")  # two losses
    assert not at.exception and any("cannot be combined" in e.value for e in at.error)
    at = page(variant="not_a_technique")
    assert not at.exception and any("not_a_technique" in w.value for w in at.warning)


def test_a_small_live_run_reaches_its_table_and_downloads():
    at = page(a="", b="pacgan", steps="60", seeds="2")
    assert not at.exception
    at.button[0].click().run()
    rerun_until(at, lambda at: at.dataframe, 120, every=1.0)
    assert not at.exception
    assert at.dataframe, texts(at)
    assert "Live run" in texts(at)
    assert len(at.get("download_button")) == 2


def test_every_technique_demo_opens_with_its_shipped_rate():
    """Each of the taxonomy's lab links opens the lab on its preset, with the shipped result and the
    seeds its claim held in, no exception and no warning about the link."""
    from demos.presets import PRESETS

    for pid in PRESETS:
        at = AppTest.from_file(PAGE, default_timeout=90)
        at.query_params["variant"] = pid
        at.run()
        assert not at.exception, pid
        t = texts(at)
        assert "Technique demo" in t and "B undoes it in" in t, (pid, t[:300])
        assert "fresh seeds" in t and ("claimed" in t or "shown as measured" in t), pid  # the evidence sweep's rate
        assert not any("Unknown technique demo" in w.value for w in at.warning), pid
