"""Settings page: shows the workspace and stores model, threshold and review default."""

from __future__ import annotations

from sqlalchemy import text

from tests.pages.conftest import run_page


def test_settings_saved(filled):
    at = run_page("settings.py")
    shown = at.dataframe[0].value
    assert str(filled.home) in set(shown["value"])
    # unset, the model's own calibrated threshold applies and the box says so
    assert at.checkbox(key="set_own_threshold").value is True
    at.checkbox(key="set_own_threshold").uncheck()
    at.slider(key="set_threshold").set_value(0.65)
    at.checkbox(key="set_reviews").check()
    assert at.number_input(key="set_k").value == 1  # unset: the default
    at.number_input(key="set_k").set_value(3)
    at.get("form_submit_button")[0].click()
    at.run()
    assert not at.exception
    with filled.ws.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT key, value FROM setting")).all())
    assert rows["uncertainty_threshold"] == "0.65"
    assert rows["reviews_per_face"] == "3"
    # back to the model's own threshold: the stored one goes
    at.checkbox(key="set_own_threshold").check()
    at.get("form_submit_button")[0].click()
    at.run()
    with filled.ws.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT key, value FROM setting")).all())
    assert "uncertainty_threshold" not in rows
    assert rows["use_reviews"] == "1"
    assert rows["default_model"]
    # the review default now applies to a new session's charts
    at2 = run_page()
    assert at2.toggle(key="f_reviews").value is True


def test_settings_page_empty(empty_home):
    at = run_page("settings.py")
    assert at.dataframe, "workspace table missing"


def test_settings_lists_versions_and_activates_one(filled):
    from db.models import ModelVersion

    with filled.ws.sessions.begin() as s:
        s.add(ModelVersion(name="fer-adapted", version="1", base_model="fer-mini-xception",
                           path="/models/fer-adapted-1/manifest.json", weights_sha256="0" * 64,
                           labels=["neutral", "happy"], active=False,
                           metrics={"base_accuracy": 0.5, "adapted_accuracy": 0.75,
                                    "base_macro_f1": 0.4, "adapted_macro_f1": 0.7,
                                    "n_test": 12}))
    at = run_page("settings.py")
    table = at.dataframe[1].value
    assert list(table["version"]) == ["fer-adapted@1"]
    assert float(table["adapted accuracy"][0]) == 0.75
    at.selectbox(key="set_version").set_value("fer-adapted@1")
    at.button(key="use_version").click()
    at.run()
    assert not at.exception
    with filled.ws.engine.connect() as conn:
        setting = conn.execute(text("SELECT value FROM setting WHERE key='default_model'"))
        active = conn.execute(text("SELECT active FROM model_version")).scalar()
        assert setting.scalar() == "/models/fer-adapted-1/manifest.json"
    assert active in (1, True)


def test_finetune_with_too_few_reviews_says_why(filled):
    at = run_page("settings.py")
    at.button(key="ft_run").click()
    at.run()
    assert not at.exception
    assert any("Not enough to learn from" in w.value for w in at.warning)
    with filled.ws.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM model_version")).scalar() == 0
