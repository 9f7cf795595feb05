"""Presenter mode (app_pages/presenter.py) through the whole app: the ?present flag and the sidebar
toggle turn it on, its style is the module's constant, and Next / Back step through the lesson,
each step opening its page with its parameters."""
from urllib.parse import parse_qsl

from streamlit.testing.v1 import AppTest

from app_pages import presenter

APP = "../app.py"


def app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def bar(at) -> str:
    return next((m.value for m in at.markdown if m.value.startswith("**Step ")), "")


def styles(at) -> list[str]:
    return [h.proto.body for h in at.get("html")]


def link(at, label: str):
    return next((pl.proto for pl in at.get("page_link") if pl.proto.label == label), None)


def disabled(at, label: str) -> bool:
    key = f"presenter_{label.lower()}"
    if any(b.key == key for b in at.button):
        return at.button(key=key).disabled
    return link(at, label).disabled


def follow(at, label: str) -> AppTest:
    """Click Back / Next: a button when the step is on the open page, else a page link, which is
    followed as the browser would (open its page with its query string)."""
    key = f"presenter_{label.lower()}"
    if any(b.key == key for b in at.button):
        return at.button(key=key).click().run()
    target = link(at, label)
    assert not target.disabled, label
    page = "app_pages/explorer.py" if target.page in ("explorer", "about") else f"app_pages/demo_{target.page}.py"
    page = page.replace("explorer.py", f"{target.page}.py")
    for k in list(at.query_params):
        del at.query_params[k]
    for k, v in parse_qsl(target.query_string):
        at.query_params[k] = v
    at.switch_page(page)
    return at.run()


def test_url_flag_turns_presenter_mode_on():
    at = app(present="1")
    assert not at.exception
    assert at.toggle(key=presenter.TOGGLE).value is True
    assert bar(at).startswith("**Step 1 of ")
    assert disabled(at, "Back") and not disabled(at, "Next")
    assert link(at, "Next").page == "mode_collapse"
    assert dict(parse_qsl(link(at, "Next").query_string)) == {"variant": "pacgan", "slide": "2", "present": "1"}
    assert styles(at) == [presenter.STYLE]  # the constant stylesheet, injected once


def test_off_by_default_and_for_unknown_values():
    for params in ({}, {"present": "0"}, {"present": "banana"}, {"present": "<script>"}):
        at = app(**params)
        assert not at.exception
        assert at.toggle(key=presenter.TOGGLE).value is False, params
        assert bar(at) == "" and styles(at) == [], params


def test_sidebar_toggle_and_exit_button():
    at = app()
    at.toggle(key=presenter.TOGGLE).set_value(True).run()
    assert bar(at).startswith("**Step 1 of ") and styles(at) == [presenter.STYLE]
    at.button(key="presenter_exit").click().run()
    assert not at.exception
    assert at.toggle(key=presenter.TOGGLE).value is False and bar(at) == ""


def test_next_and_back_step_through_the_lesson():
    at = app(present="1")
    assert "mode collapse" in bar(at).lower()
    follow(at, "Next")
    assert not at.exception
    assert at.title[0].value == "Mode collapse: a plain GAN beside a fix"
    assert bar(at).startswith("**Step 2 of ") and at.selectbox(key="variant").value == "pacgan"
    follow(at, "Next")
    assert at.selectbox(key="variant").value == "unrolled" and "unrolled" in bar(at)
    assert at.query_params["variant"] in ("unrolled", ["unrolled"])
    follow(at, "Back")
    assert not at.exception
    assert bar(at).startswith("**Step 2 of ") and at.selectbox(key="variant").value == "pacgan"
    assert at.toggle(key=presenter.TOGGLE).value is True  # the mode survives page switches


def test_walk_the_whole_sequence_without_an_exception():
    at = app(present="1")
    n = int(bar(at).split(" of ")[1].split(":")[0])
    seen = []
    for i in range(n - 1):
        follow(at, "Next")
        assert not at.exception, (i, bar(at))
        assert bar(at).startswith(f"**Step {i + 2} of {n}:**"), bar(at)
        seen.append(at.title[0].value if at.title else "")
    assert disabled(at, "Next")  # the last step
    assert any("Dirac" in t for t in seen)


def test_every_demo_page_is_in_the_sequence():
    at = app(present="1")
    n = int(bar(at).split(" of ")[1].split(":")[0])
    from app_pages import common

    pages = set(common.demo_ids_with_pages())
    steps = presenter.presets()
    assert len(steps) == n
    assert pages <= {p.page for p in steps}


def test_a_typed_link_finds_its_step():
    at = app(present="1")
    at.switch_page("app_pages/demo_dirac.py")
    at.query_params["variant"] = "consensus"
    at.run()
    assert not at.exception
    assert "consensus" in bar(at).lower(), bar(at)
