"""app_pages.figures: a figure drawn from the same object and key is built once for every session."""
import plotly.graph_objects as go
from streamlit.testing.v1 import AppTest

from app_pages import figures

APP = "../app.py"  # the explorer is the app's default page


class Owner:  # a stand-in for a taxonomy
    pass


def test_built_once_per_owner_and_key_and_frozen():
    calls = []

    def build():
        calls.append(1)
        return go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))

    a, b = Owner(), Owner()
    f1 = figures.shared_figure(a, ("x", 1), build)
    assert figures.shared_figure(a, ("x", 1), build) is f1 and len(calls) == 1
    assert figures.shared_figure(a, ("x", 2), build) is not f1 and len(calls) == 2  # another key
    assert figures.shared_figure(b, ("x", 1), build) is not f1 and len(calls) == 3  # another owner
    assert f1.to_dict()["data"][0]["y"] == (3, 4) or list(f1.to_dict()["data"][0]["y"]) == [3, 4]


def test_a_freed_owner_whose_id_is_reused_gets_its_own_figure():
    seen = []
    for i in range(50):  # ids of freed objects are reused quickly; a hit must be the same object
        o = Owner()
        fig = figures.shared_figure(o, "k", lambda i=i: go.Figure(layout_title_text=str(i)))
        seen.append(fig.to_dict()["layout"]["title"]["text"])
        del o
    assert seen == [str(i) for i in range(50)]


def test_sessions_opening_the_explorer_share_its_figures(monkeypatch):
    monkeypatch.delenv("GAN_CLINIC_TAXONOMY", raising=False)
    AppTest.from_file(APP, default_timeout=60).run()
    built = figures.STATS["built"]
    at = AppTest.from_file(APP, default_timeout=60).run()  # a second session, same default view
    assert not at.exception
    assert figures.STATS["built"] == built and figures.STATS["shared"] >= 4
