"""Migration 0008_multi_review: the log of reviews becomes one review per reviewer and face,
keeping each face's newest review (the one that counted) under the reviewer "legacy"."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brandmood.core.types import Emotion
from db.migrate import upgrade
from db.models import AnalysisRun, Asset, AssetKind, Face, Frame, Review
from db.queries.core import get_or_create_brand
from db.session import make_engine

BEFORE = "0006_jobs"


def test_existing_reviews_become_legacy_and_keep_their_label(backend_url: str) -> None:
    engine = make_engine(backend_url)
    upgrade(engine, BEFORE)  # the review table before its key changes
    with Session(engine) as s:
        brand = get_or_create_brand(s, name="Acme")
        # a Core insert names only the columns given (and those with defaults): the ORM
        # would also name columns later migrations add to the asset table
        asset_id = s.execute(insert(Asset.__table__).values(
            brand_id=brand.id, kind=AssetKind.IMAGE, source_uri="x.jpg", sha256="a" * 64,
            media_path="aa/x.jpg").returning(Asset.__table__.c.id)).scalar_one()
        frame, run = Frame(asset_id=asset_id, timestamp_ms=0), AnalysisRun(model_name="m",
                                                                            model_version="1")
        s.add_all([frame, run])
        s.flush()
        faces = [Face(frame_id=frame.id, run_id=run.id, asset_id=asset_id, x1=0, y1=0, x2=9,
                      y2=9, det_score=0.9) for _ in range(2)]
        s.add_all(faces)
        s.flush()
        ids = [f.id for f in faces]
        for face, label, who in [(ids[0], Emotion.SAD, "ana"), (ids[0], Emotion.HAPPY, ""),
                                 (ids[1], Emotion.FEAR, "bo")]:
            s.add(Review(face_id=face, label=label, reviewer=who))
            s.flush()  # in this order: the newest row of a face is the one that counted
        s.commit()
    upgrade(engine)
    with engine.begin() as conn:
        got = conn.execute(text("SELECT face_id, label, reviewer FROM review "
                                "ORDER BY face_id")).all()
        assert [tuple(r) for r in got] == [(ids[0], "happy", "legacy"),
                                           (ids[1], "fear", "legacy")]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO review (face_id, label, reviewer, created_at) VALUES "
                          "(:f, 'sad', 'legacy', CURRENT_TIMESTAMP)"), {"f": ids[1]})
    engine.dispose()
