"""Reports page and exports: CSV rows, Excel sheets and PDF text match the database."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from brandmood.core.access import BrandScope
from brandmood.core.types import EMOTIONS
from brandmood.services import reports
from db.models import AnalysisRun, AssetAnalysis, AssetStatus, RunStatus
from db.queries.analysis import refresh_face_counts
from db.queries.selection import DashboardFilters
from tests.pages import expected
from tests.pages.conftest import run_page

ALL = BrandScope.ALL  # an operator's view: every brand


def _data(filled, **kw):
    f = DashboardFilters(scope=ALL, brand_id=filled.ids["brand"], **kw)
    s = filled.ws.session()
    return s, reports.collect_report(s, filters=f, media=filled.ws.media, brand="Acme")


def test_reports_page_prepares_downloads(filled):
    at = run_page("reports.py")
    assert not at.get("download_button")
    at.button(key="prep_faces_csv").click().run()
    assert [b.proto.label for b in at.get("download_button")] == ["Download faces.csv"]


def test_csv_exports_match_sql(filled):
    ws, ids = filled.ws, filled.ids
    s, data = _data(filled, campaign_ids=(ids["summer"],))
    with s:
        rows = list(csv.DictReader(io.StringIO(reports.faces_csv(data).decode())))
        assets = list(csv.DictReader(io.StringIO(reports.assets_csv(data).decode())))
    assert len(rows) == expected.counted_faces(
        ws, brand=ids["brand"], where=lambda f: f.a["campaign_id"] == ids["summer"])
    assert {r["run_id"] for r in rows} == {str(ids["run"])}
    assert all(r["p_contempt"] == "" for r in rows)
    assert len(assets) == len(expected.assets(
        ws, where=lambda a: a["campaign_id"] == ids["summer"]))
    emotions = [e.value for e in EMOTIONS]
    assert [k for k in rows[0] if k.startswith("p_")] == [f"p_{e}" for e in emotions]
    assert [k for k in assets[0] if k.startswith("faces_")] == [
        f"faces_{lbl}" for lbl in (*emotions, "uncertain")]
    by_id = {int(a["asset_id"]): a for a in assets}
    assert by_id[ids["0-f15-hao-ph.jpg"]]["faces_happy"] == "1"
    assert by_id[ids["0-f15-hao-ph.jpg"]]["likes"] == "300"


def test_excel_has_summary_sheets_and_raw_data(filled):
    s, data = _data(filled)
    with s:
        wb = load_workbook(io.BytesIO(reports.excel_report(data)), read_only=True)
    assert wb.sheetnames == ["Summary", "By campaign", "By channel", "By ambassador", "Trend",
                             "Assets", "Faces"]
    camp = list(wb["By campaign"].iter_rows(values_only=True))
    spring = next(r for r in camp if r[0] == "Spring")
    assert spring[1] == expected.counted_faces(
        filled.ws, brand=filled.ids["brand"],
        where=lambda f: f.a["campaign_id"] == filled.ids["spring"])
    faces = list(wb["Faces"].iter_rows(values_only=True))
    assert len(faces) - 1 == expected.counted_faces(filled.ws, brand=filled.ids["brand"])
    summary = [r for r in wb["Summary"].iter_rows(values_only=True) if r]
    assert ("Model", "fer-mini-xception@1.0") in [tuple(r[:2]) for r in summary]


@pytest.mark.slow
def test_pdf_report_text(filled):
    s, data = _data(filled, date_from=__import__("datetime").date(2025, 2, 1),
                    date_to=__import__("datetime").date(2025, 2, 28))
    with s:
        pdf = PdfReader(io.BytesIO(reports.pdf_report(data)))
    text = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert "Brand emotion report: Acme" in text
    assert "2025-02-01 to 2025-02-28" in text
    assert "fer-mini-xception@1.0" in text
    assert "Methodology and limitations" in text
    assert "below 0.4" in text and "less than 0.1" in text
    assert "Top assets per emotion" in text
    faces = expected.counted_faces(filled.ws, brand=filled.ids["brand"],
                                   where=expected.in_feb)
    assert f"Faces {faces}" in text
    images = sum(len(p.images) for p in pdf.pages)
    assert images >= 3  # charts and thumbnails


def _new_run(filled, version: str, parameters: dict, asset: str) -> int:
    """A newer run that analyzed only ``asset`` (it becomes that asset's current run)."""
    with filled.ws.sessions.begin() as s:
        run = AnalysisRun(model_name="fer-mini-xception", model_version=version,
                          status=RunStatus.DONE, parameters=parameters)
        s.add(run)
        s.flush()
        s.add(AssetAnalysis(asset_id=filled.ids[asset], run_id=run.id,
                            status=AssetStatus.ANALYZED))
        s.flush()
        refresh_face_counts(session=s, asset_ids=[filled.ids[asset]])
        return run.id


def _rule(filled) -> str:
    s, data = _data(filled)
    with s:
        return data.uncertainty_rule


def test_methodology_names_the_rule_of_the_runs_behind_the_numbers(filled):
    # the newest run of the workspace analyzed another brand, with another rule (recorded
    # the analyzer's way): Acme's numbers still come from the run with 0.4 / 0.1 only
    _new_run(filled, "1.1", {"min_confidence": 0.9, "min_margin": 0.3}, "other_asset")
    rule = _rule(filled)
    assert "below 0.4" in rule and "less than 0.1" in rule
    assert "0.9" not in rule and "different" not in rule
    # one Acme asset is re-analyzed under that rule: both rules are behind the numbers
    newer = _new_run(filled, "1.2", {"min_confidence": 0.9, "min_margin": 0.3},
                     "single_face.jpg")
    rule = _rule(filled)
    assert "different rules" in rule and "below 0.4" in rule and "below 0.9" in rule
    assert f"fer-mini-xception@1.2 (run {newer})" in rule
    assert f"fer-mini-xception@1.0 (run {filled.ids['run']})" in rule
    assert "nothing in this selection has been analyzed" in reports.rule_text([])


def test_reports_page_empty(empty_home):
    at = run_page("reports.py")
    assert any("No data yet" in i.value for i in at.info)
