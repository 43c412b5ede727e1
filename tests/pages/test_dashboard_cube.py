"""The one-scan page data (``dashboard_cube``) and the fast gallery/queue paths, on SQLite
and PostgreSQL, against expected numbers from the tests' own SQL and arithmetic."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import text, update

from db.models import Face
from db.queries import dashboard as dq
from db.queries import dashboard_assets as da
from db.queries import dashboard_cube as dc
from db.queries import review as rq
from tests.pages import expected
from tests.pages.fill import fill

ORDER = ("neutral", "happy", "sad", "surprise", "fear", "anger", "disgust", "contempt",
         "uncertain")
AMB_KEY = ("CASE WHEN f.ambassador_id IS NOT NULL AND COALESCE(f.ambassador_confirmed, TRUE) "
           "THEN f.ambassador_id ELSE a.ambassador_id END")


@pytest.fixture
def filled_any(any_ws, media):
    return any_ws, fill(any_ws, media)


def _face_of(ws, asset_id: int, run_id: int, label: str) -> int:
    return int(expected.scalar(ws, "SELECT min(id) FROM face WHERE asset_id = :a AND run_id = :r "
                                   "AND dominant = :l", a=asset_id, r=run_id, l=label))


def test_ambassador_matches_move_faces_between_groups(filled_any):
    ws, ids = filled_any
    # Ana's asset shows Ben (matched, not rejected); a face matched to Ana was rejected
    moved = _face_of(ws, ids["single_face.jpg"], ids["run"], "happy")
    rejected = _face_of(ws, ids["multi_face.jpg"], ids["run"], "neutral")
    with ws.sessions.begin() as s:
        s.execute(update(Face).where(Face.id == moved).values(ambassador_id=ids["ben"]))
        s.execute(update(Face).where(Face.id == rejected).values(
            ambassador_id=ids["ana"], ambassador_confirmed=False))
    with ws.session() as s:
        data = dc.page_data(session=s, filters=dq.DashboardFilters(brand_id=ids["brand"]),
                            group=dq.GroupBy.AMBASSADOR)
        got = {(r.key, r.label): r.count for r in data.distribution()}
        only_ben = dq.DashboardFilters(brand_id=ids["brand"], ambassador_ids=(ids["ben"],))
        ben_counts = dc.total_counts(dc.cube(session=s, filters=only_ben))
    for amb in ("ana", "ben"):
        want = expected.label_counts(ws, brand=ids["brand"], where=f"{AMB_KEY} = :g",
                                     g=ids[amb])
        assert {lbl: n for (k, lbl), n in got.items() if k == str(ids[amb])} == want, amb
    assert got[(str(ids["ben"]), "happy")] >= 1
    none = expected.label_counts(ws, brand=ids["brand"], where=f"{AMB_KEY} IS NULL")
    assert {lbl: n for (k, lbl), n in got.items() if k == "none"} == none
    assert ben_counts == expected.label_counts(ws, brand=ids["brand"],
                                               where=f"{AMB_KEY} = :g", g=ids["ben"])


def test_reviews_confidence_and_uncertain_filters_together(filled_any):
    ws, ids = filled_any
    f = dq.DashboardFilters(brand_id=ids["brand"], use_reviews=True, min_confidence=0.5,
                            include_uncertain=False)
    with ws.session() as s:
        k = dc.page_data(session=s, filters=f).kpis()
    label = "COALESCE(rv.label, CASE WHEN f.uncertain THEN 'uncertain' ELSE f.dominant END)"
    want = expected.label_counts(
        ws, brand=ids["brand"], reviews=True,
        where=f"(f.confidence >= 0.5 OR rv.label IS NOT NULL) AND {label} <> 'uncertain'")
    assert k.counts == want and k.faces == sum(want.values())
    # the reviewed face (model: uncertain sad at 0.30) counts as neutral despite its confidence
    assert "neutral" in want


def test_kpis_of_a_date_range_count_assets_without_faces(filled_any):
    ws, ids = filled_any
    f = dq.DashboardFilters(brand_id=ids["brand"], date_from=date(2025, 2, 1),
                            date_to=date(2025, 2, 28))
    with ws.session() as s:
        k = dc.page_data(session=s, filters=f).kpis()
    rng = {"b": ids["brand"]}
    assets = expected.scalar(ws, f"SELECT count(*) FROM asset a WHERE a.brand_id = :b AND "
                                 f"{expected.FEB}", **rng)
    analyzed = expected.scalar(ws, f"SELECT count(*) FROM asset a WHERE a.brand_id = :b AND "
                                   f"a.status = 'analyzed' AND {expected.FEB}", **rng)
    with ws.engine.connect() as conn:
        with_faces = conn.execute(text(
            f"SELECT count(DISTINCT a.id) {expected._COUNTED} AND {expected.FEB}"),
            {"brand": ids["brand"]}).scalar()
    assert (k.assets, k.analyzed_assets, k.assets_with_faces) == (assets, analyzed, with_faces)
    assert k.faces == expected.counted_faces(ws, brand=ids["brand"], where=expected.FEB)


def test_engagement_histograms_give_exact_means_and_medians(filled_any):
    ws, ids = filled_any
    with ws.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT a.id, CASE WHEN f.uncertain THEN 'uncertain' ELSE f.dominant END, count(*), "
            f"min(a.likes), min(a.views) {expected._COUNTED} GROUP BY a.id, 2"),
            {"brand": ids["brand"]}).all()
    per: dict[int, dict[str, int]] = {}
    metrics: dict[int, tuple[int, int]] = {}
    for aid, lbl, n, likes, views in rows:
        per.setdefault(aid, {})[lbl] = n
        metrics[aid] = (likes, views)
    top = {aid: max(ORDER, key=lambda lbl, c=c: (c.get(lbl, 0), -ORDER.index(lbl)))
           for aid, c in per.items()}
    with ws.session() as s:
        got = {r.label: r for r in dc.page_data(session=s, filters=dq.DashboardFilters(
            brand_id=ids["brand"]), group=dq.GroupBy.CHANNEL).engagement()}
    assert set(got) == set(top.values())
    for lbl, row in got.items():
        likes = np.array([metrics[a][0] for a, t in top.items() if t == lbl], dtype=float)
        views = np.array([metrics[a][1] for a, t in top.items() if t == lbl], dtype=float)
        assert row.assets == len(likes)
        assert row.metrics["likes"].mean == pytest.approx(likes.mean())
        assert row.metrics["likes"].median == np.median(likes)
        assert row.metrics["views"].median == np.median(views)


def test_gallery_exists_filter_and_queue_order(filled_any):
    ws, ids = filled_any
    f = dq.DashboardFilters(brand_id=ids["brand"])
    with ws.session() as s:
        total, _ = da.gallery(session=s, filters=f, labels=("uncertain",))
        assert total == expected.assets_with_label(ws, brand=ids["brand"], label="uncertain")
        high = dq.DashboardFilters(brand_id=ids["brand"], min_confidence=0.9)
        total, items = da.gallery(session=s, filters=high)
        want = expected.scalar(ws, f"SELECT count(DISTINCT a.id) {expected._COUNTED} AND "
                                   "f.confidence >= 0.9", brand=ids["brand"])
        assert total == want == len(items)
        certain = dq.DashboardFilters(brand_id=ids["brand"], include_uncertain=False)
        assert da.gallery(session=s, filters=certain, labels=("disgust",))[0] == 0
        queue = rq.review_queue(session=s, filters=f, limit=3)
    with ws.engine.connect() as conn:
        want_ids = [r[0] for r in conn.execute(text(
            f"SELECT f.id {expected._COUNTED} AND f.id NOT IN (SELECT face_id FROM review) "
            "ORDER BY f.uncertain DESC, f.confidence ASC, f.id LIMIT 3"),
            {"brand": ids["brand"]})]
    assert [q.face_id for q in queue] == want_ids
    assert queue[0].label == "uncertain" and len(queue[0].probs) == 8
