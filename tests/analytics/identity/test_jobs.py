"""Ambassador and fine-tuning jobs on a real workspace: ingest, analyze, enroll, match, review,
fine-tune and record the new model version with its metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from analytics.identity import EMBEDDING_MODEL, IdentityError
from brandmood.core.types import EMOTIONS, Emotion
from brandmood.services.identity import enroll, enroll_paths, match_faces
from db.models import (
    AmbassadorReference,
    Asset,
    AssetKind,
    Brand,
    Face,
    FaceEmbedding,
    Frame,
    ModelVersion,
    Review,
)
from db.queries import identity as q
from db.queries import model_versions as mv
from db.queries.consent import Consent, ConsentError
from db.queries.core import get_or_create_brand
from db.queries.review import SettingKey, get_setting
from tests.analytics.identity.conftest import MADE_UP_LABELS
from tests.conftest import media_file

CONSENT = Consent(given_by="the ambassador", basis="test contract 1 §4")


@pytest.fixture
def analyzed(ws, detector):
    """Acme with single_face.mp4 and multi_face.jpg ingested and analyzed."""
    from brandmood.services.analyze import run_analysis
    from ingest.files import FileSource
    from ingest.jobs import run_source

    with ws.sessions.begin() as s:
        get_or_create_brand(s, name="Acme")
    summary = run_source(ws, FileSource([media_file("single_face.mp4"),
                                         media_file("multi_face.jpg")]), brand="Acme")
    assert summary.stored == 2
    run_analysis(ws)
    return ws


def test_enroll_match_review_and_emotions(analyzed, detector, embedder, video_frames):
    ws = analyzed
    with pytest.raises(ConsentError, match="enrolment refused"):
        enroll(ws, brand="Acme", name="Ana", images=[("frame0", video_frames[0])],
               detector=detector, embedder=embedder)
    amb = enroll(ws, brand="Acme", name="Ana", images=[("frame0", video_frames[0])],
                 detector=detector, embedder=embedder, consent=CONSENT)
    assert amb.added == 1 and amb.items[0].ok
    summary = match_faces(ws, brand="Acme", embedder=embedder)
    assert summary.n_faces >= 5 and not summary.failed
    with ws.session() as s:
        faces = s.execute(select(Face, Asset.kind).join(Asset, Asset.id == Face.asset_id)).all()
        video = [f for f, k in faces if k is AssetKind.VIDEO]
        photo = [f for f, k in faces if k is AssetKind.IMAGE]
        assert video and len(photo) >= 3
        assert all(f.ambassador_id == amb.ambassador_id for f in video)
        assert all(0 <= f.ambassador_distance < 0.35 for f in video)
        assert all(f.ambassador_id is None for f in photo)
        assert all(f.ambassador_distance > 0.35 for f in photo)
        # only faces of a consenting ambassador keep an identity embedding
        embedded = set(s.scalars(select(FaceEmbedding.face_id)))
        assert embedded == {f.id for f in video}
        rows = q.list_ambassadors(session=s, brand_id=s.scalar(select(Brand.id)))
        assert (rows[0].name, rows[0].n_references, rows[0].n_matched) == ("Ana", 1, len(video))
        # Reviewer: reject one video face, confirm another and make it a reference.
        q.review_match(session=s, face_id=video[0].id, confirmed=False)
        if len(video) > 1:
            q.review_match(session=s, face_id=video[1].id, confirmed=True)
            q.reference_from_face(session=s, face_id=video[1].id, model=EMBEDDING_MODEL)
        with pytest.raises(ValueError, match="no ambassador"):
            q.review_match(session=s, face_id=photo[0].id, confirmed=True)
        emo = q.ambassador_emotions(session=s, ambassador_id=amb.ambassador_id)
        own_faces = [f for f in video[1:] if f.dominant is not None and not f.uncertain]
        assert sum(emo.own.values()) == len(own_faces)
        assert emo.n_assets == 1
        s.commit()
    again = match_faces(ws, brand="Acme", embedder=embedder)
    assert again.n_kept_reviewed == (2 if len(video) > 1 else 1)
    with ws.session() as s:
        assert s.get(Face, video[0].id).ambassador_confirmed is False
        assert q.count_references(session=s, ambassador_id=amb.ambassador_id,
                                  model=EMBEDDING_MODEL) == (2 if len(video) > 1 else 1)


def test_enroll_fails_items_without_a_face_and_goes_on(ws, detector, embedder, tmp_path):
    with ws.sessions.begin() as s:
        get_or_create_brand(s, name="Acme")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    out = enroll_paths(ws, brand="Acme", name="Bo", paths=[
        broken, media_file("free-mountain-vector-01.jpg"), media_file("0-f1-su-ph.jpg")],
        detector=detector, embedder=embedder, consent=CONSENT)
    assert out.added == 1
    reasons = {Path(i.source).name: i.reason for i in out.items if not i.ok}
    assert set(reasons) == {"broken.jpg", "free-mountain-vector-01.jpg"}
    assert reasons["free-mountain-vector-01.jpg"] == "no face found"
    with pytest.raises(IdentityError, match="no reference face"):
        enroll_paths(ws, brand="Acme", name="Cy", paths=[broken], detector=detector,
                     embedder=embedder, consent=CONSENT)


def _reviewed_workspace(ws, made_up_faces, tmp_path: Path) -> list[int]:
    """Store each made-up crop as its own asset (a 64×64 photo) with one reviewed face;
    returns the face ids."""
    with ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        from db.models import AnalysisRun

        run = AnalysisRun(model_name="fer-mini-xception", model_version="x")
        s.add(run)
        s.flush()
        ids: list[int] = []
        for i, (crop, label) in enumerate(zip(made_up_faces.crops, made_up_faces.labels,
                                              strict=True)):
            path = tmp_path / f"crop{i}.png"
            Image.fromarray(crop).save(path)
            stored = ws.media.put_file(path)
            asset = Asset(brand_id=brand.id, kind=AssetKind.IMAGE, source_uri=str(path),
                          sha256=stored.sha256, media_path=stored.relpath, width=64, height=64)
            s.add(asset)
            s.flush()
            frame = Frame(asset_id=asset.id)
            s.add(frame)
            s.flush()
            face = Face(frame_id=frame.id, run_id=run.id, asset_id=asset.id, x1=0, y1=0, x2=64,
                        y2=64, det_score=1.0)
            s.add(face)
            s.flush()
            s.add(Review(face_id=face.id, label=EMOTIONS[int(label)], reviewer="tester"))
            ids.append(face.id)
    return ids


def test_finetune_job_records_the_better_version_with_metrics(ws, made_up_faces, tmp_path):
    from analytics.classifiers.registry import get_classifier
    from analytics.finetune import FinetuneConfig
    from brandmood.services.finetune import run_finetune

    ids = _reviewed_workspace(ws, made_up_faces, tmp_path)
    # a second reviewer agrees on four faces and disagrees on two: those two are disputed
    # (one review against one) and must not train
    with ws.sessions.begin() as s:
        for i, face_id in enumerate(ids[:6]):
            label = EMOTIONS[int(made_up_faces.labels[i])]
            other = label if i < 4 else next(e for e in EMOTIONS if e is not label)
            s.add(Review(face_id=face_id, label=other, reviewer="second"))
    with ws.session() as s:
        rows = mv.reviewed_faces(session=s)
    assert len(rows) == len(made_up_faces) - 2
    assert not {r.face.face_id for r in rows} & set(ids[4:6])
    assert {r.label for r in rows} == {Emotion(v) for v in MADE_UP_LABELS.values()}
    out = run_finetune(ws, cfg=FinetuneConfig(min_per_class=5, l2=0.01), activate=True)
    assert out.result.improved and out.version_id is not None
    with ws.session() as s:
        row = s.get(ModelVersion, out.version_id)
        assert (row.name, row.version, row.active) == ("faceapi-adapted", "1", True)
        assert row.base_model == "faceapi" and row.metrics["calibration"]["ece_after"] >= 0
        assert row.metrics["adapted_macro_f1"] == out.result.adapted.macro_f1
        assert row.metrics["base_accuracy"] == out.result.base.accuracy
        assert row.metrics["adapted_accuracy"] > row.metrics["base_accuracy"]
        assert "contempt" in row.labels
        # the ceiling: pairs of reviews of the six faces reviewed twice, 4 of 6 alike
        assert row.metrics["human_agreement"] == pytest.approx(4 / 6)
        assert (row.metrics["human_faces_reviewed_twice"], row.metrics["disputed_faces"],
                row.metrics["consensus_faces"]) == (6, 2, len(made_up_faces) - 2)
        assert row.metrics["human_alpha"] < 1
        assert get_setting(session=s, key=SettingKey.DEFAULT_MODEL) == row.path
        with pytest.raises(ValueError, match="already exists"):
            mv.record_version(session=s, name="faceapi-adapted", version="1", base_model="",
                              path="x", weights_sha256="0" * 64, labels=[], metrics={})
        assert mv.next_version(session=s, name="faceapi-adapted") == "2"
        mv.set_active(session=s, version_id=None)
        assert mv.active_version(session=s) is None
    clf = get_classifier(row.path)
    probs = clf.predict(made_up_faces.crops[:4])
    assert probs.shape == (4, 8) and not np.isnan(probs[:, EMOTIONS.index(Emotion.CONTEMPT)]).any()


def _refs(ws, model: str) -> list[tuple[int, int, bytes]]:
    with ws.session() as s:
        return [(r.id, r.ambassador_id, bytes(r.vector)) for r in s.scalars(
            select(AmbassadorReference).where(AmbassadorReference.model == model)
            .order_by(AmbassadorReference.id))]


def test_facenet_keeps_its_own_references_and_embeddings(analyzed, detector, embedder,
                                                         video_frames, facenet_env, monkeypatch):
    ws = analyzed
    ana = enroll(ws, brand="Acme", name="Ana", images=[("frame0", video_frames[0])],
                 detector=detector, embedder=embedder, consent=CONSENT)
    bo = enroll_paths(ws, brand="Acme", name="Bo", paths=[media_file("0-f1-su-ph.jpg")],
                      detector=detector, embedder=embedder, consent=CONSENT)
    dlib_refs = _refs(ws, EMBEDDING_MODEL)
    assert len(dlib_refs) == 2 and all(len(v) == 128 * 4 for *_, v in dlib_refs)
    # facenet, chosen by name through the registry (random weights from the env var)
    fn = enroll(ws, brand="Acme", name="Ana", images=[("frame0", video_frames[0])],
                detector=detector, embedder="facenet-vggface2")
    assert fn.ambassador_id == ana.ambassador_id and fn.added == 1
    facenet_refs = _refs(ws, "facenet-vggface2")
    assert [(a, len(v)) for _, a, v in facenet_refs] == [(ana.ambassador_id, 512 * 4)]
    with ws.session() as s:  # reference counts per embedder, or all of them
        brand_id = s.scalar(select(Brand.id))
        counts = {m: {r.name: r.n_references for r in
                      q.list_ambassadors(session=s, brand_id=brand_id, model=m)}
                  for m in (None, EMBEDDING_MODEL, "facenet-vggface2")}
    assert counts[EMBEDDING_MODEL]["Ana"] + 1 == counts[None]["Ana"]
    assert counts["facenet-vggface2"] == {"Ana": 1, "Bo": 0}
    assert counts[EMBEDDING_MODEL]["Bo"] == counts[None]["Bo"] >= 1
    with pytest.raises(IdentityError, match="facenet-vggface2 has no calibrated distance"):
        match_faces(ws, brand="Acme", embedder="facenet-vggface2")
    monkeypatch.setenv("BRANDMOOD_EMBEDDER", "facenet-vggface2")  # the configured default
    with pytest.raises(IdentityError, match="pass one explicitly"):
        match_faces(ws, brand="Acme")
    summary = match_faces(ws, brand="Acme", threshold=2.5)  # unit vectors: all within 2
    assert summary.embedder == "facenet-vggface2" and not summary.failed
    # Bo has no facenet reference: every face goes to Ana, the only facenet ambassador
    assert summary.n_matched == summary.n_faces >= 5
    assert set(summary.per_ambassador) == {ana.ambassador_id}
    with ws.session() as s:
        stored = {e.face_id: bytes(e.vector) for e in s.scalars(select(FaceEmbedding))}
        assert {e.model for e in s.scalars(select(FaceEmbedding))} == {"facenet-vggface2"}
        ref = np.frombuffer(facenet_refs[0][2], "<f4")
        rows = s.execute(select(Face, Asset.kind).join(Asset, Asset.id == Face.asset_id)).all()
        assert all(len(stored[f.id]) == 512 * 4 for f, _ in rows)
        photo = [f for f, k in rows if k is AssetKind.IMAGE]  # (video: per-track means)
        assert len(photo) >= 3
        for face in photo:  # the distance is to Ana's facenet reference
            want = np.linalg.norm(np.frombuffer(stored[face.id], "<f4") - ref)
            assert face.ambassador_distance == pytest.approx(want, abs=1e-5)
    assert _refs(ws, EMBEDDING_MODEL) == dlib_refs  # dlib's references untouched
    # dlib again: its own gallery (Ana and Bo) and its own stored 128-d embeddings
    back = match_faces(ws, brand="Acme", embedder=embedder)
    assert back.embedder == EMBEDDING_MODEL and back.threshold == 0.35 and not back.failed
    assert back.per_ambassador.get(ana.ambassador_id, 0) >= 1  # the video's faces
    assert bo.ambassador_id not in summary.per_ambassador
    with ws.session() as s:
        models = [e.model for e in s.scalars(select(FaceEmbedding))]
        # a face dlib no longer matches to a consenting ambassador keeps no embedding at all
        assert models.count(EMBEDDING_MODEL) == models.count("facenet-vggface2") \
            == back.n_matched < back.n_faces
        assert all(f.ambassador_distance < 0.35 for f in s.scalars(select(Face))
                   if f.ambassador_id == ana.ambassador_id)
