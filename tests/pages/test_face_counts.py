"""The per-asset face counts (``asset_face_counts``): the dashboard's summary path gives the
same pages as the face scan, the migration's backfill equals what the job writes, and
the job's writes keep it current; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from brandmood.core.access import BrandScope
from brandmood.services import dashboard as sd
from db.migrate import downgrade, upgrade
from db.models import Asset, AssetAnalysis, AssetFaceCounts, AssetStatus, Face, Platform
from db.queries import analysis as aq
from db.queries import dashboard_cube as dc
from db.queries.dashboard import GroupBy
from db.queries.rollups import refresh_rollups
from db.queries.selection import DashboardFilters
from tests.pages import expected
from tests.pages.expected import ambassador_of
from tests.pages.fill import fill

ALL = BrandScope.ALL  # an operator's view: every brand

GROUPS = (None, GroupBy.CAMPAIGN, GroupBy.CHANNEL, GroupBy.PLATFORM)


@pytest.fixture
def filled_any(any_ws, media):
    return any_ws, fill(any_ws, media)


def _canon(c: dc.Cube) -> dc.Cube:
    """The cube with histogram rows sorted (row order is the database's)."""
    hist = {m: {lbl: sorted(rows, key=lambda r: (r[0] is None, r[0] or 0.0))
                for lbl, rows in per.items()} for m, per in c.histograms.items()}
    return dc.Cube(c.days, c.day_assets, c.groups, hist)


def _both(s, filters, group):
    fast, scan = (_canon(dc.cube(session=s, filters=filters, group=group,
                                 engagement=group is not None, use_summary=u))
                  for u in (True, False))
    return fast, scan


def _views(ids) -> list[DashboardFilters]:
    b = ids["brand"]
    return [DashboardFilters(scope=ALL), DashboardFilters(scope=ALL, brand_id=b),
            DashboardFilters(scope=ALL, brand_id=b, include_uncertain=False),
            DashboardFilters(scope=ALL, brand_id=b, date_from=date(2025, 2, 1),
                                date_to=date(2025, 2, 28)),
            DashboardFilters(scope=ALL, brand_id=b, campaign_ids=(ids["spring"],)),
            DashboardFilters(scope=ALL, brand_id=b, platforms=(Platform.YOUTUBE,),
                                include_uncertain=False)]


def test_summary_and_scan_give_the_same_pages(filled_any):
    ws, ids = filled_any
    with ws.session() as s:
        for filters in _views(ids):
            for group in GROUPS:
                assert dc.summary_serves(filters, group)
                fast, scan = _both(s, filters, group)
                assert fast == scan, (filters, group)
        whole = sd.page_data(session=s, filters=DashboardFilters(scope=ALL, brand_id=ids["brand"]),
                             group=GroupBy.CAMPAIGN)
    # not vacuous: the numbers are the tests' own SQL count, engagement is there
    assert whole.kpis().counts == expected.label_counts(ws, brand=ids["brand"])
    assert whole.kpis().faces > 0 and whole.engagement()


def test_summary_path_reads_the_table(filled_any):
    ws, ids = filled_any
    with ws.sessions.begin() as s:  # a stale row shows on the summary path only
        s.execute(update(AssetFaceCounts).where(
            AssetFaceCounts.asset_id == ids["single_face.jpg"]).values(
            n_happy=AssetFaceCounts.n_happy + 5, n_faces=AssetFaceCounts.n_faces + 5))
    with ws.session() as s:
        fast, scan = _both(s, DashboardFilters(scope=ALL, brand_id=ids["brand"]), None)
    assert dc.total_counts(fast)["happy"] == dc.total_counts(scan)["happy"] + 5


@pytest.mark.parametrize("filters, group", [
    (DashboardFilters(scope=ALL, min_confidence=0.5), None),
    (DashboardFilters(scope=ALL, use_reviews=True), GroupBy.CAMPAIGN),
    (DashboardFilters(scope=ALL, ambassador_ids=(1,)), GroupBy.CHANNEL),
    (DashboardFilters(scope=ALL, min_confidence=0.5), GroupBy.AMBASSADOR),
])
def test_other_views_keep_the_scan(filters, group, ws):
    assert not dc.summary_serves(filters, group)
    with ws.session() as s, pytest.raises(ValueError, match="summary cannot serve"):
        dc.cube(session=s, filters=filters, group=group, use_summary=True)


def _match(ws, asset_id: int, run_id: int, label: str, amb: int, confirmed) -> None:
    """Give the asset's first face of ``label`` in ``run_id`` an identity match."""
    fid = expected.scalar(ws, "SELECT min(id) FROM face WHERE asset_id = :a AND run_id = :r "
                              "AND dominant = :l", a=asset_id, r=run_id, l=label)
    assert fid is not None
    with ws.sessions.begin() as s:
        s.execute(update(Face).where(Face.id == fid).values(
            ambassador_id=amb, ambassador_confirmed=confirmed))
        refresh_rollups(session=s, asset_ids=[asset_id])  # a raw write: keep rollups


def test_ambassador_page_from_summary_equals_the_scan(filled_any):
    ws, ids = filled_any
    run, ana, ben = ids["run"], ids["ana"], ids["ben"]
    _match(ws, ids["single_face.jpg"], run, "happy", ben, None)  # Ana's asset shows Ben
    _match(ws, ids["multi_face.jpg"], run, "sad", ana, True)  # no ambassador: confirmed Ana
    _match(ws, ids["multi_face.jpg"], run, "neutral", ben, False)  # rejected: stays
    _match(ws, ids["0-f1-su-ph.jpg"], run, "surprise", ben, None)  # Ben's own: no move
    _match(ws, ids["0-f15-hao-ph.jpg"], ids["old_run"], "anger", ben, None)  # old run
    with ws.session() as s:
        for filters in _views(ids):
            assert dc.summary_serves(filters, GroupBy.AMBASSADOR)
            fast, scan = _both(s, filters, GroupBy.AMBASSADOR)
            assert fast == scan, filters
        page = sd.page_data(session=s, filters=DashboardFilters(scope=ALL, brand_id=ids["brand"]),
                            group=GroupBy.AMBASSADOR)
        certain = DashboardFilters(scope=ALL, brand_id=ids["brand"], include_uncertain=False)
        got_certain = _canon(dc.cube(session=s, filters=certain, group=GroupBy.AMBASSADOR,
                                     use_summary=True)).groups
    got = {(r.key, r.label): r.count for r in page.distribution()}
    for key, amb in ((str(ana), ana), (str(ben), ben), ("none", None)):
        want = expected.label_counts(ws, brand=ids["brand"],
                                     where=lambda f, amb=amb: ambassador_of(f) == amb)
        assert {lbl: n for (k, lbl), n in got.items() if k == key} == want, key
        want.pop("uncertain", None)
        assert got_certain.get(key, {}) == want, key
    # not vacuous: Ben got Ana's happy face, Ana the confirmed uncertain one, the rejected
    # neutral face stayed with the asset (no ambassador)
    assert got[(str(ben), "happy")] == 1 and got[(str(ana), "uncertain")] == 1
    assert got[("none", "neutral")] >= 1


def _summary_rows(ws) -> list[tuple]:
    cols = [c for c in AssetFaceCounts.__table__.c]
    with ws.session() as s:
        return [tuple(r) for r in s.execute(select(*cols).order_by(AssetFaceCounts.asset_id))]


def test_migration_backfill_equals_the_job_rows(filled_any):
    ws, ids = filled_any
    written = _summary_rows(ws)  # fill() writes them with the job's query function
    assert len(written) == len({r["asset_id"] for r in expected.rows(ws, AssetAnalysis)
                                if r["status"] == AssetStatus.ANALYZED})
    by_asset = {r[0]: r for r in written}
    assert by_asset[ids["multi_face.jpg"]][1] == ids["run"]  # newest run, not the old one
    assert sum(r[2] for r in written) == sum(
        expected.counted_faces(ws, brand=ids[b]) for b in ("brand", "other_brand"))
    downgrade(ws.engine, "0002")
    upgrade(ws.engine)  # 0003 creates the table and backfills it from the faces
    assert _summary_rows(ws) == written


def test_job_writes_keep_the_row_current(filled_any):
    ws, ids = filled_any
    aid = ids["multi_face.jpg"]
    with ws.sessions.begin() as s:  # the current run fails on it: the old run counts again
        aq.write_asset_failure(session=s, run_id=ids["run"], asset_id=aid,
                               reason="decoder error", seconds=0.1)
    with ws.session() as s:
        row = s.get(AssetFaceCounts, aid)
        assert (row.run_id, row.n_faces, row.n_anger, row.dominant) == (
            ids["old_run"], 1, 1, "anger")
        fast, scan = _both(s, DashboardFilters(scope=ALL, brand_id=ids["brand"]), GroupBy.CHANNEL)
    assert fast == scan
    with ws.sessions.begin() as s:  # the asset itself goes: its row goes with it
        s.delete(s.get(Asset, aid))
    with ws.session() as s:
        assert s.get(AssetFaceCounts, aid) is None
