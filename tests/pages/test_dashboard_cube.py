"""The one-scan page data (``dashboard_cube``) and the fast gallery/queue paths, on SQLite
and PostgreSQL, against expected numbers counted in plain Python (``tests.pages.expected``)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import update

from brandmood.core.access import BrandScope
from brandmood.services import dashboard as sd
from db.models import AssetStatus, Face
from db.queries import dashboard_assets as da
from db.queries import dashboard_cube as dc
from db.queries import review as rq
from db.queries.dashboard import GroupBy
from db.queries.rollups import refresh_rollups
from db.queries.selection import DashboardFilters
from tests.pages import expected
from tests.pages.expected import ambassador_of
from tests.pages.fill import fill

ALL = BrandScope.ALL  # an operator's view: every brand

ORDER = ("neutral", "happy", "sad", "surprise", "fear", "anger", "disgust", "contempt",
         "uncertain")


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
        refresh_rollups(session=s, asset_ids=[ids["single_face.jpg"],  # raw writes
                                              ids["multi_face.jpg"]])
    with ws.session() as s:
        data = sd.page_data(session=s, filters=DashboardFilters(scope=ALL, brand_id=ids["brand"]),
                            group=GroupBy.AMBASSADOR)
        got = {(r.key, r.label): r.count for r in data.distribution()}
        only_ben = DashboardFilters(scope=ALL, brand_id=ids["brand"], ambassador_ids=(ids["ben"],))
        ben_counts = dc.total_counts(dc.cube(session=s, filters=only_ben))
    for amb in ("ana", "ben"):
        want = expected.label_counts(ws, brand=ids["brand"],
                                     where=lambda f, g=ids[amb]: ambassador_of(f) == g)
        assert {lbl: n for (k, lbl), n in got.items() if k == str(ids[amb])} == want, amb
    assert got[(str(ids["ben"]), "happy")] >= 1
    none = expected.label_counts(ws, brand=ids["brand"], where=lambda f: ambassador_of(f) is None)
    assert {lbl: n for (k, lbl), n in got.items() if k == "none"} == none
    assert ben_counts == expected.label_counts(
        ws, brand=ids["brand"], where=lambda f: ambassador_of(f) == ids["ben"])


def test_reviews_confidence_and_uncertain_filters_together(filled_any):
    ws, ids = filled_any
    f = DashboardFilters(scope=ALL, brand_id=ids["brand"], use_reviews=True, min_confidence=0.5,
                            include_uncertain=False)
    with ws.session() as s:
        k = sd.page_data(session=s, filters=f).kpis()
    want = expected.label_counts(
        ws, brand=ids["brand"], reviews=True,
        where=lambda f: ((f.f["confidence"] >= 0.5 or f.review is not None)
                         and f.label(reviews=True) != "uncertain"))
    assert k.counts == want and k.faces == sum(want.values())
    # the reviewed face (model: uncertain sad at 0.30) counts as neutral despite its confidence
    assert "neutral" in want


def test_kpis_of_a_date_range_count_assets_without_faces(filled_any):
    ws, ids = filled_any
    f = DashboardFilters(scope=ALL, brand_id=ids["brand"], date_from=date(2025, 2, 1),
                            date_to=date(2025, 2, 28))
    with ws.session() as s:
        k = sd.page_data(session=s, filters=f).kpis()
    feb = expected.assets(ws, where=lambda a: a["brand_id"] == ids["brand"]
                          and (expected.day(a) or "").startswith("2025-02"))
    analyzed = [a for a in feb if a["status"] == AssetStatus.ANALYZED]
    with_faces = expected.assets_with(ws, brand=ids["brand"], where=expected.in_feb)
    assert (k.assets, k.analyzed_assets, k.assets_with_faces) == (
        len(feb), len(analyzed), with_faces)
    assert len(analyzed) < len(feb) and 0 < with_faces < len(analyzed)  # not vacuous
    assert k.faces == expected.counted_faces(ws, brand=ids["brand"], where=expected.in_feb)


def test_engagement_histograms_give_exact_means_and_medians(filled_any):
    ws, ids = filled_any
    per: dict[int, dict[str, int]] = {}
    metrics: dict[int, tuple[int, int]] = {}
    for f in expected.counted(ws, brand=ids["brand"]):
        counts = per.setdefault(f.a["id"], {})
        counts[f.label()] = counts.get(f.label(), 0) + 1
        metrics[f.a["id"]] = (f.a["likes"], f.a["views"])
    top = {aid: max(ORDER, key=lambda lbl, c=c: (c.get(lbl, 0), -ORDER.index(lbl)))
           for aid, c in per.items()}
    with ws.session() as s:
        got = {r.label: r for r in sd.page_data(session=s, filters=DashboardFilters(scope=ALL,
            brand_id=ids["brand"]), group=GroupBy.CHANNEL).engagement()}
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
    f = DashboardFilters(scope=ALL, brand_id=ids["brand"])
    with ws.session() as s:
        total, _ = da.gallery(session=s, filters=f, labels=("uncertain",))
        assert total == expected.assets_with_label(ws, brand=ids["brand"], label="uncertain")
        high = DashboardFilters(scope=ALL, brand_id=ids["brand"], min_confidence=0.9)
        total, items = da.gallery(session=s, filters=high)
        want = expected.assets_with(ws, brand=ids["brand"],
                                    where=lambda f: f.f["confidence"] >= 0.9)
        assert total == want == len(items)
        certain = DashboardFilters(scope=ALL, brand_id=ids["brand"], include_uncertain=False)
        assert da.gallery(session=s, filters=certain, labels=("disgust",))[0] == 0
        queue = rq.review_queue(session=s, filters=f, reviewer="x", limit=3)
    assert [q.face_id for q in queue] == expected.review_queue(ws, brand=ids["brand"], limit=3)
    assert queue[0].row.label == "uncertain" and len(queue[0].row.probs) == 8
