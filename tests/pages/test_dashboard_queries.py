"""The dashboard's query module on SQLite and PostgreSQL, against hand-counted rows."""

from __future__ import annotations

from datetime import date

import pytest

from brandmood.core.access import BrandScope
from brandmood.core.types import Emotion
from brandmood.services import dashboard as sd
from db.models import Platform
from db.queries import dashboard as dq
from db.queries import dashboard_assets as da
from db.queries import review as rq
from db.queries.dashboard import GroupBy
from db.queries.selection import DashboardFilters
from tests.pages.fill import PLAN, fill

ALL = BrandScope.ALL  # an operator's view: every brand


@pytest.fixture
def filled_any(any_ws, media):
    return any_ws, fill(any_ws, media)


def _plan_counts(pred=lambda row: True) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in PLAN:
        if not pred(row):
            continue
        for label, _conf, unc in row[6]:
            key = "uncertain" if unc else label
            out[key] = out.get(key, 0) + 1
    return out


def _counts(s, filters: DashboardFilters) -> dict[str, int]:
    return sd.page_data(session=s, filters=filters).label_counts()


def test_counts_groups_and_trend(filled_any):
    ws, ids = filled_any
    f = DashboardFilters(scope=ALL, brand_id=ids["brand"])
    want = _plan_counts()
    for label in ("neutral", "happy"):  # the video's two sampled faces
        want[label] = want.get(label, 0) + 1
    with ws.session() as s:
        page = sd.page_data(session=s, filters=f)
        assert page.label_counts() == want  # old run's anger never counted
        k = page.kpis()
        assert (k.assets, k.analyzed_assets, k.assets_with_faces) == (9, 8, 7)
        dist = sd.page_data(session=s, filters=f, group=GroupBy.CAMPAIGN).distribution()
        spring = {r.label: r.count for r in dist if r.key == str(ids["spring"])}
        assert spring == _plan_counts(lambda r: r[1] == "Spring")
        weeks = page.trend(sd.Period.WEEK)
        assert {r.key for r in weeks} == {"2025-01-06", "2025-01-20", "2025-02-03",
                                          "2025-02-10", "2025-02-17", "2025-02-24"}
        months = page.trend(sd.Period.MONTH)
        assert sum(r.count for r in months if r.key == "2025-01-01") == 6
        plat = sd.page_data(session=s, filters=f, group=GroupBy.PLATFORM).distribution()
        assert sum(r.count for r in plat if r.key == "youtube") == 5
        assert dq.model_versions(session=s, filters=f) == ["fer-mini-xception@1.0"]


def test_filters_reviews_and_engagement(filled_any):
    ws, ids = filled_any
    with ws.session() as s:
        f = DashboardFilters(scope=ALL, brand_id=ids["brand"], min_confidence=0.7,
                                include_uncertain=False)
        assert _counts(s, f) == {"happy": 4, "surprise": 1,
                                                          "neutral": 1}
        r = DashboardFilters(scope=ALL, brand_id=ids["brand"], use_reviews=True)
        assert _counts(s, r)["uncertain"] == 1
        d = DashboardFilters(scope=ALL, brand_id=ids["brand"], date_from=date(2025, 1, 6),
                                date_to=date(2025, 1, 8), platforms=(Platform.INSTAGRAM,))
        assert sum(_counts(s, d).values()) == 5
        prev = d.previous_period()
        assert (prev.date_from, prev.date_to) == (date(2025, 1, 3), date(2025, 1, 5))
        eng = {e.label: e for e in sd.page_data(session=s, filters=DashboardFilters(scope=ALL,
            brand_id=ids["brand"]), group=GroupBy.CHANNEL).engagement()}
        # happy-dominant assets: single_face (120 likes) and 0-f15 (300 likes)
        assert eng["happy"].assets == 2 and eng["happy"].metrics["likes"].mean == 210
        assert eng["happy"].metrics["likes"].median == 210
        other = DashboardFilters(scope=ALL, brand_id=ids["other_brand"])
        assert _counts(s, other) == {"fear": 3}


def test_gallery_detail_queue_and_version(filled_any):
    ws, ids = filled_any
    f = DashboardFilters(scope=ALL, brand_id=ids["brand"])
    with ws.session() as s:
        total, items = da.gallery(session=s, filters=f, labels=("surprise",))
        assert total == 2 and {i.asset_id for i in items} == {ids["multi_face.jpg"],
                                                              ids["0-f1-su-ph.jpg"]}
        d = da.asset_detail(session=s, asset_id=ids["multi_face.jpg"], scope=ALL)
        assert len(d.faces) == 4 and all(fc.row.probs[-1] is None for fc in d.faces)
        assert d.reviews == {ids["reviewed_face"]: "neutral"}
        queue = rq.review_queue(session=s, filters=f, reviewer="x", limit=3)
        assert queue[0].row.uncertain and queue[0].face_id != ids["reviewed_face"]
        v1 = dq.data_version(session=s)
    with ws.sessions.begin() as s:
        rq.store_review(session=s, face_id=queue[0].face_id, label=Emotion.SAD, scope=ALL,
                        reviewer="x")
    with ws.session() as s:
        assert dq.data_version(session=s) != v1
        assert rq.review_count(session=s, scope=ALL) == (2, 2)
        with pytest.raises(LookupError):
            rq.store_review(session=s, face_id=10**9, label=Emotion.SAD, scope=ALL,
                            reviewer="x")
        with pytest.raises(ValueError):
            rq.set_setting(session=s, key=rq.SettingKey.UNCERTAINTY_THRESHOLD, value="1.5")


def test_bad_filters_raise():
    with pytest.raises(ValueError):
        DashboardFilters(scope=ALL, min_confidence=2)
    with pytest.raises(ValueError):
        DashboardFilters(scope=ALL, date_from=date(2025, 2, 1), date_to=date(2025, 1, 1))
