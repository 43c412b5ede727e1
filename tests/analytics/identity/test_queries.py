"""Identity and model-version queries on SQLite and PostgreSQL (no models needed)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.identity import EMBEDDING_MODEL, vector_to_bytes
from brandmood.core.types import Emotion
from db.models import AnalysisRun, Asset, AssetKind, Face, Frame, Review
from db.queries import identity as q
from db.queries import model_versions as mv
from db.queries.core import NotFoundError, get_or_create_ambassador, get_or_create_brand


def _face(s, asset, run, frame, **kw) -> Face:
    face = Face(frame_id=frame.id, run_id=run.id, asset_id=asset.id, x1=0, y1=0, x2=10, y2=10,
                det_score=0.99, **kw)
    s.add(face)
    s.flush()
    return face


def test_matches_reviews_references_and_emotions(any_ws):
    with any_ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        ana = get_or_create_ambassador(s, brand=brand, name="Ana")
        bo = get_or_create_ambassador(s, brand=brand, name="Bo")
        run = AnalysisRun(model_name="m", model_version="1")
        s.add(run)
        tagged = Asset(brand_id=brand.id, kind=AssetKind.IMAGE, source_uri="a", sha256="a" * 64,
                       media_path="x/a.jpg", ambassador_id=bo.id)
        other = Asset(brand_id=brand.id, kind=AssetKind.IMAGE, source_uri="b", sha256="b" * 64,
                      media_path="x/b.jpg")
        s.add_all([tagged, other])
        s.flush()
        fa, fb = Frame(asset_id=tagged.id), Frame(asset_id=other.id)
        s.add_all([fa, fb])
        s.flush()
        own = _face(s, tagged, run, fa, dominant=Emotion.HAPPY)
        stranger = _face(s, tagged, run, fa, dominant=Emotion.SAD)
        far = _face(s, other, run, fb, dominant=Emotion.ANGER)
        q.add_reference(session=s, ambassador_id=ana.id, model=EMBEDDING_MODEL,
                        vector=vector_to_bytes(np.ones(128)), source="photo.jpg")
        assert q.set_machine_match(session=s, face_id=own.id, ambassador_id=ana.id,
                                   distance=0.2)
        assert q.set_machine_match(session=s, face_id=far.id, ambassador_id=ana.id,
                                   distance=0.3)
        q.store_embedding(session=s, face_id=own.id, model=EMBEDDING_MODEL,
                          vector=vector_to_bytes(np.zeros(128)))
        q.store_embedding(session=s, face_id=own.id, model=EMBEDDING_MODEL,
                          vector=vector_to_bytes(np.full(128, 2.0)))
        ids = (brand.id, ana.id, bo.id, own.id, stranger.id, far.id)
    brand_id, ana_id, bo_id, own_id, stranger_id, far_id = ids
    with any_ws.sessions.begin() as s:
        rows = q.match_rows(session=s, brand_id=brand_id)
        assert [(r.face.face_id, r.face.ambassador_distance, r.ambassador_name)
                for r in rows] == [(own_id, 0.2, "Ana"), (far_id, 0.3, "Ana")]
        assert rows[0].tagged_ambassador_id == bo_id and rows[1].tagged_ambassador_id is None
        assert len(q.match_rows(session=s, brand_id=brand_id, include_unknown=True)) == 3
        assert q.face_embeddings(session=s, face_ids=[own_id], model=EMBEDDING_MODEL)[
            own_id] == vector_to_bytes(np.full(128, 2.0))
        q.review_match(session=s, face_id=far_id, confirmed=False)
        assert not q.set_machine_match(session=s, face_id=far_id, ambassador_id=None,
                                       distance=None)
        q.review_match(session=s, face_id=own_id, confirmed=True)
        ref = q.reference_from_face(session=s, face_id=own_id, model=EMBEDDING_MODEL)
        assert ref.source == f"face:{own_id}"
        with pytest.raises(ValueError, match="not a confirmed"):
            q.reference_from_face(session=s, face_id=stranger_id, model=EMBEDDING_MODEL)
        q.review_match(session=s, face_id=stranger_id, confirmed=True, ambassador_id=bo_id)
        with pytest.raises(NotFoundError):
            q.review_match(session=s, face_id=stranger_id, confirmed=True, ambassador_id=999)
        summary = {r.name: r for r in q.list_ambassadors(session=s, brand_id=brand_id)}
        assert (summary["Ana"].n_references, summary["Ana"].n_matched,
                summary["Ana"].n_confirmed) == (2, 1, 1)
        assert (summary["Bo"].n_matched, summary["Bo"].n_tagged_assets) == (1, 1)
        emo = q.ambassador_emotions(session=s, ambassador_id=ana_id)
        assert emo.own == {Emotion.HAPPY: 1} and emo.others == {Emotion.SAD: 1}
        assert emo.n_assets == 1  # the rejected face's asset is not Ana's post
        emo_bo = q.ambassador_emotions(session=s, ambassador_id=bo_id)
        assert emo_bo.own == {Emotion.SAD: 1} and emo_bo.others == {Emotion.HAPPY: 1}
        s.add(Review(face_id=own_id, label=Emotion.SAD, reviewer="a"))
        s.add(Review(face_id=own_id, label=Emotion.HAPPY, reviewer="b"))
        s.flush()  # one against one: disputed, so it does not train
        assert mv.reviewed_faces(session=s, brand_id=brand_id) == []
        s.add(Review(face_id=own_id, label=Emotion.HAPPY, reviewer="c"))
        s.flush()  # two of three: the majority's label
        reviewed = mv.reviewed_faces(session=s, brand_id=brand_id)
        assert [(r.face.face_id, r.label, r.group) for r in reviewed] == [
            (own_id, Emotion.HAPPY, f"ambassador:{ana_id}")]


def test_model_versions_are_recorded_and_one_is_active(any_ws):
    with any_ws.sessions.begin() as s:
        a = mv.record_version(session=s, name="fer-adapted", version="1", base_model="b",
                              path="/m/1.json", weights_sha256="a" * 64, labels=["happy"],
                              metrics={"adapted_accuracy": 0.7})
        b = mv.record_version(session=s, name="fer-adapted", version="2", base_model="b",
                              path="/m/2.json", weights_sha256="b" * 64, labels=["happy"],
                              metrics={"adapted_accuracy": 0.8}, active=True)
        assert mv.active_version(session=s).id == b.id
        mv.set_active(session=s, version_id=a.id)
        assert mv.active_version(session=s).id == a.id
        assert [v.version for v in mv.list_versions(session=s, name="fer-adapted")] == ["2", "1"]
        assert mv.get_version(session=s, version_id=b.id).metrics == {"adapted_accuracy": 0.8}
        with pytest.raises(ValueError, match="64 hex"):
            mv.record_version(session=s, name="x", version="1", base_model="", path="p",
                              weights_sha256="short", labels=[], metrics={})
        with pytest.raises(NotFoundError):
            mv.get_version(session=s, version_id=12345)
