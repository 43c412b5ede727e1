"""Overview page: KPI cards match independent counts; filters change them; URL carries them."""

from __future__ import annotations

from tests.pages import expected
from tests.pages.conftest import metric_values, run_page


def test_overview_renders_kpis_matching_sql(filled):
    at = run_page()
    ids, ws = filled.ids, filled.ws
    counts = expected.label_counts(ws, brand=ids["brand"])
    faces = sum(counts.values())
    m = metric_values(at)
    assert m["Faces"] == f"{faces:,}"
    assert m["Assets"] == str(len(expected.assets(
        ws, where=lambda a: a["brand_id"] == ids["brand"])))
    assert m["Uncertain share"] == f"{counts.get('uncertain', 0) / faces:.0%}"
    assert m["Positive share"] == f"{counts.get('happy', 0) / faces:.0%}"
    top = max((k for k in counts if k != "uncertain"), key=counts.get)
    assert m["Dominant emotion"] == top
    assert any("fer-mini-xception@1.0" in c.value for c in at.caption)
    assert not any("old-model" in c.value for c in at.caption)
    assert at.query_params["brand"] == ["Acme"] or at.query_params["brand"] == "Acme"


def test_changing_filters_changes_numbers(filled):
    ids, ws = filled.ids, filled.ws
    before = metric_values(run_page())["Faces"]
    at = run_page(state={"f_campaigns": [ids["spring"]]})
    want = expected.counted_faces(ws, brand=ids["brand"],
                                  where=lambda f: f.a["campaign_id"] == ids["spring"])
    assert metric_values(at)["Faces"] == f"{want:,}" != before
    assert at.query_params["campaigns"] in (str(ids["spring"]), [str(ids["spring"])])
    at = run_page(state={"f_campaigns": [ids["spring"]], "f_min_conf": 0.7})
    want = expected.counted_faces(ws, brand=ids["brand"], where=lambda f: (
        f.a["campaign_id"] == ids["spring"] and f.f["confidence"] >= 0.7))
    assert metric_values(at)["Faces"] == f"{want:,}"
    assert "min_conf" in at.query_params


def test_review_toggle_uses_reviewed_labels(filled):
    ids, ws = filled.ids, filled.ws
    before = metric_values(run_page())["Uncertain share"]
    at = run_page(state={"f_reviews": True})
    counts = expected.label_counts(ws, brand=ids["brand"], reviews=True)
    after = metric_values(at)["Uncertain share"]
    assert after == f"{counts['uncertain'] / sum(counts.values()):.0%}"
    assert after != before


def test_shared_link_restores_filters(filled):
    ids, ws = filled.ids, filled.ws
    at = run_page(query={"brand": "Other", "uncertain": "0"})
    want = expected.counted_faces(ws, brand=ids["other_brand"],
                                  where=lambda f: not f.f["uncertain"])
    assert metric_values(at)["Faces"] == f"{want:,}"
    assert at.checkbox(key="f_uncertain").value is False


def test_previous_period_change(filled):
    ids, ws = filled.ids, filled.ws
    at = run_page(query={"brand": "Acme", "from": "2025-02-01", "to": "2025-02-28"})
    cur = expected.counted_faces(ws, brand=ids["brand"], where=expected.in_feb)
    prev = expected.counted_faces(ws, brand=ids["brand"], where=expected.in_jan_4_to_31)
    faces = next(m for m in at.metric if m.label == "Faces")
    assert faces.value == f"{cur:,}"
    assert faces.proto.delta == f"{cur - prev:+,}"


def test_overview_empty_workspace(empty_home):
    at = run_page()
    assert any("No data yet" in i.value for i in at.info)
    assert not at.metric


def test_switching_brand_drops_other_brands_choices(filled):
    ids, ws = filled.ids, filled.ws
    at = run_page(state={"f_brand": ids["other_brand"], "f_campaigns": [ids["spring"]]})
    assert at.multiselect(key="f_campaigns").value == []
    assert metric_values(at)["Faces"] == str(expected.counted_faces(ws, brand=ids["other_brand"]))
