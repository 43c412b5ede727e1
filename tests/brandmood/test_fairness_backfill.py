"""The skin-tone angle is stored when the real analysis runs on real media, and the
backfill (service and CLI) computes the same angles for faces stored without one."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from analytics.fairness import ita_group
from brandmood.cli import app
from brandmood.services.analyze import run_analysis
from brandmood.services.fairness import backfill_ita
from db.models import Asset, AssetKind, Face, Frame
from db.queries.core import get_or_create_brand
from db.workspace import Workspace, open_workspace
from tests.conftest import media_file

FILES = ("single_face.jpg", "multi_face.jpg", "BWPictureHuman.jpg", "single_face.mp4")


def analyzed(ws: Workspace, analyzer) -> dict[str, int]:
    ids = {}
    with ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        for name in FILES:
            stored = ws.media.put_file(media_file(name))
            a = Asset(brand_id=brand.id, source_uri=name, sha256=stored.sha256,
                      media_path=stored.relpath,
                      kind=AssetKind.VIDEO if name.endswith(".mp4") else AssetKind.IMAGE)
            s.add(a)
            s.flush()
            ids[name] = a.id
    summary = run_analysis(ws, analyzer=analyzer)
    assert summary.analyzed == len(FILES)
    return ids


def angles(ws: Workspace) -> dict[int, tuple[int, int, float | None]]:
    """face id → (asset id, frame time, angle)."""
    with ws.session() as s:
        rows = s.execute(select(Face.id, Face.asset_id, Frame.timestamp_ms, Face.ita)
                         .join(Frame, Frame.id == Face.frame_id)).all()
    return {fid: (aid, ts, ita) for fid, aid, ts, ita in rows}


def test_analysis_stores_angles_and_the_backfill_reproduces_them(any_ws, analyzer):
    ws = any_ws  # SQLite and PostgreSQL
    ids = analyzed(ws, analyzer)
    stored = angles(ws)
    by_asset: dict[int, list] = {}
    for _fid, (aid, _ts, ita) in stored.items():
        by_asset.setdefault(aid, []).append(ita)
    assert len(by_asset[ids["multi_face.jpg"]]) >= 5
    for name in ("single_face.jpg", "multi_face.jpg", "single_face.mp4"):
        for ita in by_asset[ids[name]]:  # colour faces: an angle in range, in a group
            assert ita is not None and -90 < ita < 90 and ita_group(ita) is not None
    # a black-and-white photo has no colour: no estimate, and nothing is invented
    assert all(ita is None for ita in by_asset.get(ids["BWPictureHuman.jpg"], []))

    with ws.sessions.begin() as s:
        s.execute(update(Face).values(ita=None))
    summary = backfill_ita(ws)
    assert summary.failed == [] and summary.faces == len(stored)
    assert summary.assets == len(by_asset)
    again = angles(ws)
    for fid, (aid, _ts, ita) in stored.items():
        new = again[fid][2]
        if ita is None:
            assert new is None
        elif aid == ids["single_face.mp4"]:
            # the analysis saw frames at 640 px at most, the backfill at full size
            assert new == pytest.approx(ita, abs=3.0)
        else:  # the same pixels, the same boxes: the same angle
            assert new == pytest.approx(ita, abs=1e-6)
    # nothing left to do, except faces without colour (tried again each time)
    assert backfill_ita(ws).faces == summary.not_estimated


def test_backfill_goes_on_past_a_missing_file_and_the_cli(ws_env, analyzer):
    ws = open_workspace()
    try:
        ids = analyzed(ws, analyzer)
        with ws.sessions.begin() as s:
            s.execute(update(Face).values(ita=None))
            gone = s.get(Asset, ids["multi_face.jpg"]).media_path
        ws.media.path(gone).unlink()
    finally:
        ws.close()
    result = CliRunner().invoke(app, ["fairness", "backfill", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [f["asset_id"] for f in out["failed"]] == [ids["multi_face.jpg"]]
    ws = open_workspace()
    try:
        left = angles(ws)
    finally:
        ws.close()
    single = [ita for aid, _, ita in left.values() if aid == ids["single_face.jpg"]]
    assert len(single) == 1 and not math.isnan(single[0])
    assert all(ita is None for aid, _, ita in left.values() if aid == ids["multi_face.jpg"])
    result = CliRunner().invoke(app, ["fairness", "backfill"])
    assert result.exit_code == 0 and f"failed: asset {ids['multi_face.jpg']}" in result.stdout
