"""Faces stored by the analysis job come back as the same FaceDetections, on both backends:
NaN → NULL → NaN, boxes, landmarks, track ids, frames."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from brandmood.core.types import FaceDetections, ModelInfo
from db.models import Asset, AssetKind, Face, Frame
from db.queries.analysis import RunSignature, start_run, write_asset_result
from db.queries.core import get_or_create_brand
from db.queries.faces import StoredFace, stored_faces
from db.queries.identity import faces_to_match

FER = ModelInfo("fer", "1.0")


def _frame(n: int, track: int, seed: int) -> FaceDetections:
    """``n`` classified faces: contempt missing (NaN), landmarks of the first face only."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 300, (n, 2))
    boxes = np.hstack([xy, xy + rng.uniform(20, 80, (n, 2))])
    lm = np.full((n, 5, 2), np.nan)
    if n:
        lm[0] = xy[0] + rng.uniform(0, 20, (5, 2))
    probs = rng.dirichlet(np.ones(7), n)
    probs = np.hstack([probs, np.full((n, 1), np.nan)])
    det = FaceDetections.create(boxes, rng.uniform(0.8, 1, n), lm)
    return (det.with_emotions(probs, probs[:, 0] > 0.3, FER)
            .with_tracks(np.arange(n) + track if track >= 0 else np.full(n, -1)))


@pytest.fixture
def stored(any_ws):
    """A video asset whose analysis wrote three frames (the middle one without faces)."""
    frames = [(0, _frame(2, 1, seed=1)), (500, _frame(0, 1, seed=2)), (1000, _frame(3, 1, 3))]
    with any_ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        asset = Asset(brand_id=brand.id, kind=AssetKind.VIDEO, source_uri="v.mp4",
                      sha256="b" * 64, media_path="bb/bb/v.mp4")
        s.add(asset)
        s.flush()
        run, _ = start_run(session=s, signature=RunSignature("fer", "1.0", "", "mtcnn", {}))
        n = write_asset_result(session=s, run_id=run.id, asset_id=asset.id, frames=frames,
                               summary={}, seconds=0.1)
        ids = (brand.id, asset.id, run.id)
    assert n == 5
    return any_ws, frames, ids


def test_stored_faces_come_back_as_the_written_detections(stored):
    ws, frames, (_brand, asset_id, run_id) = stored
    with ws.session() as s:
        q = stored_faces().where(Face.asset_id == asset_id).order_by(Frame.timestamp_ms, Face.id)
        faces = [StoredFace.of(*row) for row in s.execute(q)]
    assert [f.timestamp_ms for f in faces] == [0, 0, 1000, 1000, 1000]
    assert {(f.asset_id, f.run_id, f.kind, f.media_path) for f in faces} == {
        (asset_id, run_id, AssetKind.VIDEO, "bb/bb/v.mp4")}
    written = FaceDetections.merge([d for _, d in frames])
    back = FaceDetections.from_rows([f.row for f in faces])
    for name in ("boxes", "scores", "landmarks", "probs", "uncertain", "track_ids"):
        np.testing.assert_allclose(getattr(back, name), getattr(written, name), rtol=1e-6,
                                   err_msg=name)  # NaN where NaN
    assert back.dominant == written.dominant
    assert [f.row for f in faces] == written.to_rows()  # float32 → float64 exactly


def test_nan_is_null_in_the_table(stored):
    ws, _frames, (_b, asset_id, _r) = stored
    with ws.engine.connect() as conn:
        rows = conn.execute(text("SELECT p_contempt, p_happy, track_id FROM face "
                                 "WHERE asset_id = :a ORDER BY id"), {"a": asset_id}).all()
    assert all(p is None for p, _, _ in rows)  # the classifier has no contempt class
    assert all(p is not None for _, p, _ in rows)
    assert [t for _, _, t in rows] == [1, 2, 1, 2, 3]
    with ws.session() as s:  # JSON: unknown landmarks read back as None (JSON null)
        lms = [f.landmarks for f in s.query(Face).filter(Face.asset_id == asset_id)
               .order_by(Face.id)]
    assert [lm is None for lm in lms] == [False, True, False, True, True]


def test_identity_reads_the_same_stored_faces(stored):
    ws, frames, (brand_id, asset_id, _r) = stored
    with ws.session() as s:
        faces = faces_to_match(session=s, brand_id=brand_id)
    back = FaceDetections.from_rows([f.row for f in faces])
    np.testing.assert_allclose(back.boxes, FaceDetections.merge([d for _, d in frames]).boxes,
                               rtol=1e-6)
    assert {f.asset_id for f in faces} == {asset_id}
