"""Analysis results are idempotent: the same asset's result written again, or by several
writers at the same moment (a retried or duplicated task), leaves exactly one outcome and
one set of faces, on SQLite and PostgreSQL, with the per-asset summary equal to a recount."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from db.models import Asset, AssetAnalysis, AssetFaceCounts, AssetKind, AssetStatus, Face, Frame
from db.queries.analysis import (
    RunSignature,
    face_counts_select,
    start_run,
    write_asset_failure,
    write_asset_result,
)
from db.queries.core import get_or_create_brand
from tests.db.test_faces import _frame

FACES_PER_WRITE = 2 + 3  # the frames below: 2 faces at 0 ms, none at 500, 3 at 1000
FRAMES = [(0, _frame(2, 1, seed=1)), (500, _frame(0, 1, seed=2)), (1000, _frame(3, 1, 3))]
WRITERS = 3
WRITES_EACH = 20


@pytest.fixture
def asset_run(any_ws):
    with any_ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        asset = Asset(brand_id=brand.id, kind=AssetKind.VIDEO, source_uri="v.mp4",
                      sha256="c" * 64, media_path="cc/cc/v.mp4")
        s.add(asset)
        s.flush()
        run, _ = start_run(session=s, signature=RunSignature("fer", "1.0", "", "mtcnn", {}))
        ids = (asset.id, run.id)
    return any_ws, *ids


def _state(ws, asset_id: int, run_id: int) -> tuple:
    """(outcomes, faces, frames, summary row, recount) of the asset, counted in SQL."""
    with ws.session() as s:
        outcomes = s.scalars(select(AssetAnalysis).where(AssetAnalysis.asset_id == asset_id,
                                                         AssetAnalysis.run_id == run_id)).all()
        faces = s.scalar(select(func.count(Face.id)).where(Face.asset_id == asset_id,
                                                           Face.run_id == run_id))
        frames = s.scalar(select(func.count(Frame.id)).where(Frame.asset_id == asset_id))
        row = s.get(AssetFaceCounts, asset_id)
        recount = s.execute(face_counts_select(dialect=s.get_bind().dialect.name,
                                               asset_ids=[asset_id])).one_or_none()
        status = s.get(Asset, asset_id).status
    summary = None if row is None else (row.run_id, row.n_faces, row.dominant)
    again = None if recount is None else (recount.run_id, recount.n_faces, recount.dominant)
    return outcomes, faces, frames, summary, again, status


def _write(ws, asset_id: int, run_id: int) -> int | None:
    with ws.sessions.begin() as s:
        return write_asset_result(session=s, run_id=run_id, asset_id=asset_id, frames=FRAMES,
                                  summary={"kind": "video"}, seconds=0.1)


def test_writing_the_same_result_again_replaces_it(asset_run):
    ws, asset_id, run_id = asset_run
    assert _write(ws, asset_id, run_id) == FACES_PER_WRITE
    assert _write(ws, asset_id, run_id) == FACES_PER_WRITE
    outcomes, faces, frames, summary, recount, status = _state(ws, asset_id, run_id)
    assert len(outcomes) == 1 and outcomes[0].n_faces == faces == FACES_PER_WRITE
    assert frames == 3 and summary == recount and summary[1] == FACES_PER_WRITE
    assert status is AssetStatus.ANALYZED


def test_concurrent_duplicate_writers_leave_one_set_of_faces(asset_run):
    """Several threads, each with its own connection, write the same result at once, many
    times (on PostgreSQL they meet at the asset's row lock, on SQLite at the write lock)."""
    ws, asset_id, run_id = asset_run
    errors: list[BaseException] = []
    counts: list[int | None] = []
    start = threading.Barrier(WRITERS)

    def writer() -> None:
        try:
            start.wait(timeout=60)
            for _ in range(WRITES_EACH):
                counts.append(_write(ws, asset_id, run_id))
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not [t for t in threads if t.is_alive()]
    assert errors == []
    assert counts == [FACES_PER_WRITE] * (WRITERS * WRITES_EACH)
    outcomes, faces, frames, summary, recount, _ = _state(ws, asset_id, run_id)
    assert len(outcomes) == 1 and faces == FACES_PER_WRITE and frames == 3
    assert summary == recount == (run_id, FACES_PER_WRITE, summary[2])


def test_a_failure_after_a_result_replaces_it_and_vice_versa(asset_run):
    ws, asset_id, run_id = asset_run
    _write(ws, asset_id, run_id)
    with ws.sessions.begin() as s:
        assert write_asset_failure(session=s, run_id=run_id, asset_id=asset_id,
                                   reason="decoder error", seconds=0.1)
    outcomes, faces, _, summary, recount, status = _state(ws, asset_id, run_id)
    assert [o.status for o in outcomes] == [AssetStatus.FAILED] and faces == 0
    assert status is AssetStatus.FAILED and summary is None and recount is None
    _write(ws, asset_id, run_id)
    outcomes, faces, _, summary, recount, status = _state(ws, asset_id, run_id)
    assert [(o.status, o.error) for o in outcomes] == [(AssetStatus.ANALYZED, None)]
    assert faces == FACES_PER_WRITE and summary == recount


def test_a_deleted_asset_is_not_written(asset_run):
    ws, asset_id, run_id = asset_run
    with ws.sessions.begin() as s:
        s.delete(s.get(Asset, asset_id))
    assert _write(ws, asset_id, run_id) is None
    with ws.sessions.begin() as s:
        assert not write_asset_failure(session=s, run_id=run_id, asset_id=asset_id,
                                       reason="x", seconds=0.0)
        assert s.scalar(select(func.count(AssetAnalysis.id))) == 0
