"""Responsible use page: the intended-use banner until an admin confirms (stored: who, when,
which text), the model card's numbers as the accuracy benchmark wrote them, and the
Art. 50(3) disclosure from the workspace settings (page download and CLI)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.core.access import Principal, PrincipalKind, Role
from brandmood.services import responsible_use as ru
from tests.pages.conftest import run_page

SERVICES = Path(__file__).resolve().parents[2] / "brandmood" / "services"

ADMIN = Principal(PrincipalKind.LOCAL_ADMIN, display_name="local admin")
BRAND_ADMIN = Principal(PrincipalKind.USER, subject="v", roles=((1, Role.ADMIN),))
"""A brand admin is not a workspace owner: the intended use covers every brand."""


def _settings(ws) -> dict[str, str]:
    with ws.engine.connect() as conn:
        return dict(conn.execute(text("SELECT key, value FROM setting")).all())


def _submit(at, label: str) -> None:
    (button,) = [b for b in at.get("form_submit_button") if b.proto.label == label]
    button.click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def _banner(at) -> bool:
    return any("Intended use not confirmed" in i.value for i in at.info)


def test_banner_until_an_admin_confirms_and_the_confirmation_is_stored(filled):
    # a new workspace asks on every page: the app draws the banner before the page (AppTest
    # reruns only a switched-to page's script, so the first page shows it here;
    # tests/e2e/test_navigation_browser.py sees it on another page in Chromium)
    assert _banner(run_page())
    at = run_page("responsible_use.py")
    assert ru.can_confirm_intended_use(ADMIN)
    assert not ru.can_confirm_intended_use(BRAND_ADMIN)
    _submit(at, "Confirm intended use")  # neither a name nor the tick: refused
    assert any("Give your name" in e.value for e in at.error)
    assert "intended_use_confirmation" not in _settings(filled.ws)
    at.text_input(key="iu_by").set_value("Dana Admin")
    at.checkbox(key="iu_agree").check()
    before = datetime.now(UTC)
    _submit(at, "Confirm intended use")
    stored = json.loads(_settings(filled.ws)["intended_use_confirmation"])
    assert stored["by"] == "Dana Admin" and stored["version"] == ru.INTENDED_USE_VERSION
    assert before <= datetime.fromisoformat(stored["at"]) <= datetime.now(UTC)
    again = run_page("responsible_use.py")
    assert any("confirmed by **Dana Admin**" in s.value for s in again.success)
    assert not _banner(run_page())


def test_an_older_text_version_asks_again(filled):
    with filled.ws.sessions.begin() as s:
        ru.confirm_intended_use(session=s, principal=ADMIN, by="Old Admin")
    with filled.ws.engine.begin() as conn:
        value = json.loads(conn.execute(text(
            "SELECT value FROM setting WHERE key='intended_use_confirmation'")).scalar())
        value["version"] = "2020-01"
        conn.execute(text("UPDATE setting SET value=:v WHERE key='intended_use_confirmation'"),
                     {"v": json.dumps(value)})
    assert _banner(run_page())
    at = run_page("responsible_use.py")
    assert any("the text has changed since" in c.value for c in at.caption)
    assert at.text_input(key="iu_by")  # the form to confirm the new text


def test_model_card_shows_what_the_benchmark_measured(empty_home):
    at = run_page("responsible_use.py")
    facts = at.dataframe[0].value
    assert "FER-2013" in " ".join(facts["training data"])
    measured = at.dataframe[1].value.to_dict("records")
    recall = at.dataframe[2].value.to_dict("records")
    figures = json.loads((SERVICES / "model_card_figures.json").read_text())
    assert set(figures) == {"JAFFE dev photos", "CK+48 dev crops"}
    n = 0
    for dataset, bench in figures.items():
        for model, m in bench["models"].items():
            (row,) = [r for r in measured if r["dataset"] == dataset and r["model"] == model]
            assert row["accuracy"] == round(m["accuracy"], 3)
            assert row["ECE"] == round(m["ece"], 3) and row["images"] == bench["images"]
            (rec,) = [r for r in recall if r["dataset"] == dataset and r["model"] == model]
            for emotion, value in m["per_class_recall"].items():
                assert rec[emotion] == round(value, 2)
            n += 1
    assert n == len(measured) >= 2
    text_all = " ".join(m.value for m in at.markdown)
    assert "Art. 5(1)(f)" in text_all and "Art. 50(3)" in text_all and "Art. 9" in text_all
    assert "workplace" in text_all and "hiring" in text_all.lower()


def test_disclosure_from_the_settings_on_the_page_and_the_cli(filled, tmp_path):
    at = run_page("responsible_use.py")
    at.text_input(key="dc_contact").set_value("privacy@acme.example")
    at.text_area(key="dc_retention").set_value("Media are deleted 90 days after analysis.")
    _submit(at, "Save")
    rows = _settings(filled.ws)
    assert rows["disclosure_contact"] == "privacy@acme.example"
    assert rows["disclosure_retention"] == "Media are deleted 90 days after analysis."
    at = run_page("responsible_use.py")
    at.selectbox(key="dc_brand").set_value("Acme")
    at.run()
    (download,) = [d for d in at.get("download_button")]
    shown = " ".join(m.value for m in at.markdown)
    for part in ("Information on emotion recognition at Acme", "instagram:acme",
                 "youtube:acme", "privacy@acme.example", "deleted 90 days", "Article 50(3)"):
        assert part in shown, part
    assert download.proto.label == "Download the notice (Markdown)"

    runner = CliRunner()
    result = runner.invoke(app, ["disclosure", "--brand", "Acme"])
    assert result.exit_code == 0, result.output
    assert "privacy@acme.example" in result.stdout and "instagram:acme" in result.stdout
    assert "warning" not in result.output  # contact and retention are set
    out = tmp_path / "notice.md"
    result = runner.invoke(app, ["disclosure", "--brand", "Acme", "--out", str(out)])
    assert result.exit_code == 0 and out.read_text().startswith("# Information on emotion")
    result = runner.invoke(app, ["disclosure", "--brand", "Nope"])
    assert result.exit_code == 2 and "unknown brand 'Nope'" in result.output


def test_disclosure_says_what_is_missing(filled):
    result = CliRunner().invoke(app, ["disclosure", "--brand", "Acme"])
    assert result.exit_code == 0
    assert "warning: not set yet: contact, retention" in result.stderr
    assert result.stdout.count(ru.MISSING) == 2
