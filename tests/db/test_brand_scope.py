"""The gate: every query that reads brand-owned rows stays inside the caller's brand scope,
on SQLite and PostgreSQL; a brand, asset, face or run outside it is refused in one message
whether it exists or not; the session-level safety net hides other brands' ORM rows."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from brandmood.core.access import AccessDenied, BrandScope
from brandmood.core.types import Emotion
from brandmood.services import dashboard as sd
from db.models import Ambassador, Asset, Brand, Campaign, Face, IngestRun, Review
from db.queries import dashboard as dq
from db.queries import dashboard_assets as da
from db.queries import dashboard_jobs as jq
from db.queries import export
from db.queries import review as rq
from db.queries.core import list_brand_names, list_brands
from db.queries.dashboard import GroupBy
from db.queries.selection import DashboardFilters
from db.scoping import restrict
from tests.pages.fill import fill
from tests.pages.secret_brand import NAME, add_secret_brand

ALL = BrandScope.ALL


@pytest.fixture
def two(any_ws, media):
    """Acme (``a``) and the secret brand (``b``) on each backend, with their scopes."""
    ids = fill(any_ws, media)
    b = add_secret_brand(any_ws, media, ids)
    return any_ws, ids, b, BrandScope.of([ids["brand"]])


def _brand_of_assets(s, asset_ids) -> set[int]:
    return set(s.scalars(select(Asset.brand_id).where(Asset.id.in_(list(asset_ids)))))


def test_filters_refuse_a_brand_outside_their_scope():
    scope = BrandScope.of([1])
    with pytest.raises(AccessDenied, match=r"brand #2 is not available"):
        DashboardFilters(brand_id=2, scope=scope)
    f = DashboardFilters(brand_id=1, scope=scope)
    with pytest.raises(AccessDenied):
        replace(f, brand_id=2)
    with pytest.raises(TypeError):
        DashboardFilters(brand_id=1, scope={1})
    assert DashboardFilters(brand_id=2, scope=ALL).brand_id == 2


def test_selection_reads_stay_in_scope(two):
    ws, ids, _b, a_only = two
    a = ids["brand"]
    everything = DashboardFilters(scope=a_only)  # "every brand" of a user of A
    with ws.session() as s:
        n_a = s.scalar(select(func.count()).select_from(Asset).where(Asset.brand_id == a))
        total, items = da.gallery(session=s, filters=everything, limit=100)
        assert total == n_a and len(items) == n_a
        assert _brand_of_assets(s, [i.asset_id for i in items]) == {a}
        assert sd.page_data(session=s, filters=everything).kpis().assets == n_a
        faces = list(export.iter_face_rows(session=s, filters=everything))
        assets = list(export.iter_asset_rows(session=s, filters=everything))
        assert faces and _brand_of_assets(s, {r.asset_id for r in faces}) == {a}
        assert len(assets) == n_a
        queue = rq.review_queue(session=s, filters=everything, reviewer="ana", limit=100)
        assert queue and _brand_of_assets(s, {f.asset_id for f in queue}) == {a}
        names = dq.group_names(session=s, group=GroupBy.CAMPAIGN, filters=everything)
        assert set(names.values()) == {"(none)", "Spring", "Summer"}
        # the operator's "every brand" does include B: the scope made the difference
        every = DashboardFilters(scope=ALL)
        assert da.gallery(session=s, filters=every, limit=100)[0] == n_a + 2
        assert "Zephyr Secret Campaign" in dq.group_names(session=s, group=GroupBy.CAMPAIGN,
                                                          filters=every).values()
        none = DashboardFilters(scope=BrandScope.NONE)
        assert da.gallery(session=s, filters=none)[0] == 0
        assert not list(export.iter_asset_rows(session=s, filters=none))


def test_named_reads_refuse_other_brands(two):
    ws, ids, b, a_only = two
    with ws.session() as s:
        assert list_brand_names(session=s, scope=a_only) == ["Acme"]
        assert [x.name for x in list_brands(session=s, scope=ALL)] == ["Acme", NAME]
        assert dq.brand_options(session=s, brand_id=ids["brand"], scope=a_only)["campaign"]
        with pytest.raises(AccessDenied):
            dq.brand_options(session=s, brand_id=b["brand"], scope=a_only)
        detail = da.asset_detail(session=s, asset_id=ids["multi_face.jpg"], scope=a_only)
        assert len(detail.faces) == 4
        messages = set()
        for asset_id in (b["asset"], 10**8):  # another brand's, and none at all
            with pytest.raises(AccessDenied) as err:
                da.asset_detail(session=s, asset_id=asset_id, scope=a_only)
            messages.add(str(err.value).replace(str(asset_id), "N"))
        assert len(messages) == 1  # no oracle: the same words whether it exists or not
        assert rq.review_count(session=s, scope=a_only) == (1, 1)  # B's review not counted
        assert rq.review_count(session=s, scope=ALL) == (2, 2)


def test_review_writes_refuse_other_brands(two):
    ws, ids, b, a_only = two
    with ws.sessions.begin() as s, pytest.raises(AccessDenied):
        rq.store_review(session=s, face_id=b["faces"][1], label=Emotion.HAPPY, scope=a_only,
                        reviewer="ana")
    with ws.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)
                        .where(Review.face_id == b["faces"][1])) == 0
    with ws.sessions.begin() as s:
        own = s.scalar(select(Face.id).where(Face.asset_id == ids["single_face.jpg"],
                                             Face.run_id == ids["run"]))
        rq.store_review(session=s, face_id=own, label=Emotion.HAPPY, scope=a_only,
                        reviewer="ana")


def test_jobs_reads_and_retries_stay_in_scope(two):
    ws, ids, b, a_only = two
    with ws.session() as s:
        runs = jq.ingest_runs(session=s, scope=a_only)
        assert runs and {r.brand for r in runs} == {"Acme"}
        assert {r.brand for r in jq.ingest_runs(session=s, scope=ALL)} == {"Acme", NAME}
        failures = jq.ingest_failures(session=s, scope=a_only)
        assert failures and not [f for f in failures if "zenith" in f.source]
        assert {f.asset_id for f in jq.analysis_failures(session=s, scope=a_only)} == \
            {ids["failed_asset"]}
        assert ids["run"] in {r.run_id for r in jq.analysis_runs(session=s, scope=a_only)}
        assert jq.analysis_runs(session=s, scope=BrandScope.of([b["brand"]])) and \
            ids["old_run"] not in {r.run_id for r in jq.analysis_runs(
                session=s, scope=BrandScope.of([b["brand"]]))}
        with pytest.raises(AccessDenied):
            jq.retryable_ingest_sources(session=s, run_id=90601, scope=a_only)
    with ws.sessions.begin() as s:
        s.execute(Asset.__table__.update().where(Asset.id == b["asset"])
                  .values(status="failed", error="x"))
        assert jq.reset_failed_assets(session=s, asset_ids=[b["asset"]], scope=a_only) == []
        assert jq.reset_failed_assets(session=s, asset_ids=[b["asset"]], scope=ALL) == \
            [b["asset"]]


def test_a_restricted_session_sees_no_other_brand(two):
    ws, ids, b, a_only = two
    with restrict(ws.session(), a_only) as s:
        assert {x.name for x in s.scalars(select(Brand))} == {"Acme"}
        assert s.get(Asset, b["asset"]) is None
        assert s.get(Campaign, b["campaign"]) is None
        assert {x.brand_id for x in s.scalars(select(Asset))} == {ids["brand"]}
        assert s.scalar(select(func.count(Asset.id))) == s.scalar(
            select(func.count(Asset.id)).where(Asset.brand_id == ids["brand"]))
        assert not s.scalars(select(Ambassador).where(Ambassador.name == "Zora Secret")).all()
        assert {r.brand_id for r in s.scalars(select(IngestRun))} == {ids["brand"]}
        # joined through an asset of A: its campaign loads (a relationship read)
        asset = s.get(Asset, ids["single_face.jpg"])
        assert asset is not None and asset.campaign.name == "Spring"
    with ws.session() as s:  # unrestricted (jobs, the CLI): both brands
        assert s.get(Asset, b["asset"]) is not None
