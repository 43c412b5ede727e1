"""Settings page: shows the workspace and stores model, threshold and review default."""

from __future__ import annotations

from sqlalchemy import text

from tests.pages.conftest import run_page


def test_settings_saved(filled):
    at = run_page("settings.py")
    shown = at.dataframe[0].value
    assert str(filled.home) in set(shown["value"])
    at.slider(key="set_threshold").set_value(0.65)
    at.checkbox(key="set_reviews").check()
    at.get("form_submit_button")[0].click() if at.get("form_submit_button") else None
    at.run()
    assert not at.exception
    with filled.ws.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT key, value FROM setting")).all())
    assert rows["uncertainty_threshold"] == "0.65"
    assert rows["use_reviews"] == "1"
    assert rows["default_model"]
    # the review default now applies to a new session's charts
    at2 = run_page()
    assert at2.toggle(key="f_reviews").value is True


def test_settings_page_empty(empty_home):
    at = run_page("settings.py")
    assert at.dataframe, "workspace table missing"
