"""What "uncertain" means, next to the numbers: the model page's cross-validated table and
reliability diagram, and the dashboard's caption beside the uncertain share."""

from __future__ import annotations

from analytics.calibration_data import CALIBRATION
from analytics.uncertainty import rule_for
from brandmood.core.settings import DEFAULT_MODEL
from brandmood.services.model_quality import uncertain_note
from tests.pages.conftest import run_page


def test_model_page_shows_cross_validated_calibration(filled):
    at = run_page("settings.py")
    tables = [t.value for t in at.table]
    assert tables, "no model-quality table"
    rows = tables[0]
    assert set(rows["dev set (unseen people)"]) == {"JAFFE photos", "CK+48 crops"}
    cv = CALIBRATION[DEFAULT_MODEL]["cv"]
    jaffe = rows[rows["dev set (unseen people)"] == "JAFFE photos"].iloc[0]
    assert float(jaffe["ECE after"]) == round(cv["ece_after"]["jaffe"], 3)
    assert float(jaffe["certain faces right"]) == round(cv["certain"]["accuracy"]["jaffe"], 3)
    captions = " ".join(c.value for c in at.caption)
    assert f"under {rule_for(DEFAULT_MODEL).min_confidence:.2f}" in captions
    charts = at.get("plotly_chart")
    assert charts, "no reliability diagram"


def test_dashboard_caption_states_the_certain_accuracy(filled):
    at = run_page()
    captions = " ".join(c.value for c in at.caption)
    note = uncertain_note(["fer-mini-xception@1.0"])  # the filled workspace's run
    assert note is not None and note in captions
    assert "uncertain = calibrated top probability under" in note
    assert uncertain_note(["old-model@0.1"]) is None  # no figures: no claim
