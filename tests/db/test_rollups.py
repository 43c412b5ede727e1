"""Rollups stay equal to a recount from the face rows after every kind of change
(ingest, analysis, the same result again, re-analysis by another run, failure, ambassador
reviews, moves, deletions through the context manager), on SQLite and PostgreSQL, and the
pages' cube read from them equals the face scan's, inside the brand scope.

The recount here is the tests' own: plain rows read with SQL, counted in Python.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select, text

from brandmood.core.access import BrandScope
from brandmood.core.types import EMOTIONS, LABELS
from db.models import Asset, AssetKind, Face, Platform
from db.queries import dashboard_cube as dc
from db.queries import identity
from db.queries.analysis import RunSignature, start_run, write_asset_failure, write_asset_result
from db.queries.core import (
    get_or_create_ambassador,
    get_or_create_brand,
    get_or_create_campaign,
    get_or_create_channel,
)
from db.queries.dashboard import GroupBy
from db.queries.dashboard_rollups import rollup_cube, rollups_serve
from db.queries.ingest import add_asset
from db.queries.rollups import rebuild_rollups, refresh_rollups, rollups_maintained
from db.queries.selection import DashboardFilters
from tests.db.test_faces import _frame

ALL = BrandScope.ALL
METRICS = ("likes", "comments", "shares", "views")


def _day(posted) -> str:
    if posted is None:
        return ""
    if isinstance(posted, str):
        posted = datetime.fromisoformat(posted)
    if posted.tzinfo is None:
        posted = posted.replace(tzinfo=UTC)
    return posted.astimezone(UTC).date().isoformat()


def recount(ws) -> dict[str, Counter]:
    """The three rollups, counted from plain rows of asset, asset_analysis and face."""
    with ws.engine.connect() as c:
        assets = c.execute(text(
            "SELECT id, brand_id, posted_at, campaign_id, channel_id, ambassador_id, status, "
            "likes, comments, shares, views FROM asset")).all()
        cur = dict(c.execute(text("SELECT asset_id, max(run_id) FROM asset_analysis "
                                  "WHERE status = 'analyzed' GROUP BY asset_id")).all())
        faces = c.execute(text("SELECT asset_id, run_id, dominant, uncertain, ambassador_id, "
                               "ambassador_confirmed FROM face")).all()
    by_asset: dict[int, list] = {}
    for f in faces:
        if f.dominant is not None and cur.get(f.asset_id) == f.run_id:
            by_asset.setdefault(f.asset_id, []).append(f)
    out = {"faces": Counter(), "assets": Counter(), "engagement": Counter()}
    for a in assets:
        cell = (a.brand_id, _day(a.posted_at), a.campaign_id or 0, a.channel_id or 0)
        labels = Counter()
        for f in by_asset.get(a.id, []):
            label = "uncertain" if f.uncertain else f.dominant
            labels[label] += 1
            matched = f.ambassador_id is not None and f.ambassador_confirmed in (None, True)
            amb = f.ambassador_id if matched else a.ambassador_id
            out["faces"][(*cell, amb or 0, label)] += 1
        top = max(labels.values(), default=0)
        dom = next((lbl for lbl in LABELS if top and labels[lbl] == top), "")
        top8 = max((labels[e.value] for e in EMOTIONS), default=0)
        domc = next((e.value for e in EMOTIONS if top8 and labels[e.value] == top8), "")
        out["assets"][(*cell, a.status == "analyzed", cur.get(a.id, 0), dom, domc)] += 1
        if dom:
            for m in METRICS:
                v = getattr(a, m)
                out["engagement"][(a.brand_id, cell[2], cell[3], dom, domc, m,
                                   -1.0 if v is None else float(v))] += 1
    return out


def stored(ws) -> dict[str, Counter]:
    """The rollup tables as they are."""
    with ws.engine.connect() as c:
        cols = ", ".join(f"n_{lbl}" for lbl in LABELS)
        faces = Counter({(*r[:5], lbl): n for r in c.execute(text(
            "SELECT brand_id, day, campaign_id, channel_id, ambassador_id, " + cols
            + " FROM rollup_faces")) for lbl, n in zip(LABELS, r[5:], strict=True) if n})
        assets = Counter({(*r[:4], bool(r[4]), *r[5:8]): r[8] for r in c.execute(text(
            "SELECT brand_id, day, campaign_id, channel_id, analyzed, run_id, dominant, "
            "dominant_certain, n_assets FROM rollup_assets"))})
        eng = Counter({(*r[:6], float(r[6])): r[7] for r in c.execute(text(
            "SELECT brand_id, campaign_id, channel_id, dominant, dominant_certain, metric, "
            "value, n_assets FROM rollup_engagement"))})
    return {"faces": faces, "assets": assets, "engagement": eng}


def check(ws) -> dict[str, Counter]:
    want = recount(ws)
    assert stored(ws) == want
    return want


@pytest.fixture
def shop(any_ws):
    """Two brands; Acme's assets on two days, two campaigns, two channels, one undated,
    one without campaign, one with no likes; a run."""
    ws = any_ws
    ids: dict[str, int] = {}
    with ws.sessions.begin() as s:
        acme, zen = (get_or_create_brand(s, name=n) for n in ("Acme", "Zen"))
        spring, fall = (get_or_create_campaign(s, brand=acme, name=n) for n in ("S", "F"))
        ig = get_or_create_channel(s, brand=acme, platform=Platform.INSTAGRAM, handle="a")
        yt = get_or_create_channel(s, brand=acme, platform=Platform.YOUTUBE, handle="b")
        ana = get_or_create_ambassador(s, brand=acme, name="Ana")
        ids.update(acme=acme.id, zen=zen.id, ana=ana.id, spring=spring.id, fall=fall.id)
        d1, d2 = datetime(2025, 3, 1, 23, 30, tzinfo=UTC), datetime(2025, 3, 2, 1, tzinfo=UTC)
        specs = [(acme, spring, ig, ana, d1, 10), (acme, spring, ig, None, d1, 20),
                 (acme, fall, yt, None, d2, None), (acme, None, ig, ana, d2, 5),
                 (acme, fall, None, None, None, 7), (zen, None, None, None, d1, 3)]
        for i, (b, camp, chan, amb, when, likes) in enumerate(specs):
            a = add_asset(s, brand_id=b.id, kind=AssetKind.IMAGE, source_uri=f"{i}.jpg",
                          sha256=f"{i:064x}", media_path=f"x/{i}.jpg", posted_at=when,
                          campaign_id=camp and camp.id, channel_id=chan and chan.id,
                          ambassador_id=amb and amb.id, likes=likes, comments=1, views=likes)
            ids[f"a{i}"] = a.id
        run, _ = start_run(session=s, signature=RunSignature("fer", "1.0", "", "mtcnn", {}))
        ids["run"] = run.id
    return ws, ids


def _analyze(ws, ids, i: int, n: int, seed: int, run: str = "run") -> None:
    with ws.sessions.begin() as s:
        write_asset_result(session=s, run_id=ids[run], asset_id=ids[f"a{i}"],
                           frames=[(0, _frame(n, -1, seed=seed))], summary={}, seconds=0.1)


def test_rollups_equal_a_recount_after_every_kind_of_change(shop):
    ws, ids = shop
    assert sum(check(ws)["assets"].values()) == 6  # ingest: pending assets count
    for i, (n, seed) in enumerate([(3, 1), (4, 2), (2, 3), (5, 4), (1, 5), (2, 6)]):
        _analyze(ws, ids, i, n, seed)
    first = check(ws)
    assert sum(first["faces"].values()) == 17 and first["engagement"]
    assert {k[-1] for k in first["faces"]} >= {"uncertain"}  # both kinds of label present
    _analyze(ws, ids, 1, 4, 2)  # the same result again: no double count
    assert check(ws) == first
    _analyze(ws, ids, 1, 6, 9)  # re-analysis with another result
    assert sum(check(ws)["faces"].values()) == 19
    with ws.sessions.begin() as s:  # re-analysis by a new run (its current run changes)
        run2, _ = start_run(session=s, signature=RunSignature("fer", "2.0", "", "mtcnn", {}))
        ids["run2"] = run2.id
    _analyze(ws, ids, 0, 1, 11, run="run2")
    check(ws)
    with ws.sessions.begin() as s:
        write_asset_failure(session=s, run_id=ids["run2"], asset_id=ids["a3"],
                            reason="broken", seconds=0.1)
    check(ws)


def _face_ids(ws, asset_id: int) -> list[int]:
    with ws.session() as s:
        return list(s.scalars(select(Face.id).where(Face.asset_id == asset_id)
                              .order_by(Face.id)))


def test_reviews_moves_and_deletions_keep_rollups_exact(shop):
    ws, ids = shop
    for i in range(6):
        _analyze(ws, ids, i, 3, 20 + i)
    f1, f2, *_ = _face_ids(ws, ids["a1"])
    with ws.sessions.begin() as s:  # a machine match, then a reviewer's verdicts
        identity.set_machine_match(session=s, face_id=f1, ambassador_id=ids["ana"],
                                   distance=0.3)
    assert any(k[4] == ids["ana"] for k in check(ws)["faces"] if k[:4][2] == ids["spring"])
    with ws.sessions.begin() as s:
        identity.review_match(session=s, face_id=f1, confirmed=False)
        identity.review_match(session=s, face_id=f2, confirmed=True, ambassador_id=ids["ana"])
    check(ws)
    # an asset moves to another campaign and day
    with ws.sessions.begin() as s, rollups_maintained(session=s, asset_ids=[ids["a0"]]):
        a = s.get(Asset, ids["a0"])
        a.campaign_id, a.posted_at, a.likes = ids["fall"], datetime(2025, 4, 1, tzinfo=UTC), 99
    check(ws)
    # erasure of some faces, then of whole assets
    gone = _face_ids(ws, ids["a2"])[0]
    with ws.sessions.begin() as s, rollups_maintained(session=s, asset_ids=[ids["a2"]]):
        s.execute(delete(Face).where(Face.id == gone))
    check(ws)
    both = [ids["a1"], ids["a4"]]
    with ws.sessions.begin() as s, rollups_maintained(session=s, asset_ids=both):
        s.execute(delete(Asset).where(Asset.id.in_(both)))
    after = check(ws)
    assert sum(after["assets"].values()) == 4
    with ws.sessions.begin() as s:  # a full rebuild gives the same rows
        rebuild_rollups(session=s)
    assert stored(ws) == after
    with ws.sessions.begin() as s:  # a raw write is repaired by a refresh of its asset
        s.execute(delete(Face).where(Face.asset_id == ids["a3"]))
        refresh_rollups(session=s, asset_ids=[ids["a3"]])
    check(ws)


def _canon(c: dc.Cube) -> dc.Cube:
    return dc.Cube(c.days, c.day_assets, c.groups,
                   {m: {lbl: sorted(v, key=lambda x: (x[0] is None, x[0] or 0))
                        for lbl, v in h.items()} for m, h in c.histograms.items()})


@pytest.mark.parametrize("group", [None, *GroupBy])
def test_pages_read_from_rollups_equal_the_scan(shop, group):
    ws, ids = shop
    for i in range(6):
        _analyze(ws, ids, i, 4, 40 + i)
    f = _face_ids(ws, ids["a2"])[0]
    with ws.sessions.begin() as s:
        identity.set_machine_match(session=s, face_id=f, ambassador_id=ids["ana"],
                                   distance=0.2)
    acme_only = BrandScope.of([ids["acme"]])
    views = [DashboardFilters(scope=ALL), DashboardFilters(scope=acme_only),
             DashboardFilters(scope=ALL, brand_id=ids["acme"], include_uncertain=False),
             DashboardFilters(scope=ALL, brand_id=ids["acme"], campaign_ids=(ids["fall"],)),
             DashboardFilters(scope=ALL, platforms=(Platform.INSTAGRAM,)),
             DashboardFilters(scope=ALL, brand_id=ids["acme"],
                              date_from=datetime(2025, 3, 2).date())]
    engagement = group is not None
    with ws.session() as s:
        for filters in views:
            if not rollups_serve(filters, group, engagement=engagement):
                assert filters.date_from is not None and engagement
                continue
            fast = rollup_cube(session=s, filters=filters, group=group, engagement=engagement)
            scan = dc.cube(session=s, filters=filters, group=group, engagement=engagement,
                           use_summary=False)
            assert _canon(fast) == _canon(scan), filters
        zen = rollup_cube(session=s, filters=DashboardFilters(scope=acme_only), group=group)
        everyone = rollup_cube(session=s, filters=DashboardFilters(scope=ALL), group=group)
    assert dc.total_counts(zen) != dc.total_counts(everyone)  # Zen's faces stay outside
    assert sum(v[0] for v in zen.day_assets.values()) == 5
