"""Fill a workspace with real rows through the ORM: brands, groups, real media, runs, faces.

Face probabilities are fixed numbers chosen here (this is the dashboard's input, not a
model's output), so tests can count every expected number themselves (``expected``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from brandmood.core.types import EMOTIONS, Emotion
from db.models import (
    AnalysisRun,
    Asset,
    AssetAnalysis,
    AssetKind,
    AssetStatus,
    Face,
    Frame,
    IngestItem,
    IngestRun,
    Outcome,
    Platform,
    Review,
    RunStatus,
)
from db.queries.analysis import refresh_face_counts
from db.queries.core import (
    get_or_create_ambassador,
    get_or_create_brand,
    get_or_create_campaign,
    get_or_create_channel,
)
from db.workspace import Workspace

# (file, campaign, channel, ambassador, posted, likes, faces: [(label, confidence, uncertain)])
PLAN = (
    ("single_face.jpg", "Spring", "instagram", "Ana", "2025-01-06", 120,
     [("happy", 0.91, False)]),
    ("multi_face.jpg", "Spring", "instagram", None, "2025-01-08", 80,
     [("happy", 0.72, False), ("neutral", 0.55, False), ("sad", 0.30, True),
      ("surprise", 0.66, False)]),
    ("0-f1-su-ph.jpg", "Spring", "youtube", "Ben", "2025-01-20", 40,
     [("surprise", 0.81, False)]),
    ("0-f15-hao-ph.jpg", "Summer", "instagram", "Ana", "2025-02-03", 300,
     [("happy", 0.95, False)]),
    ("15-f13-anc-ph.jpg", "Summer", "youtube", "Ben", "2025-02-10", 15,
     [("anger", 0.62, False)]),
    ("45-m7-di-ph.jpg", "Summer", "youtube", None, "2025-02-17", 25,
     [("disgust", 0.35, True)]),
    ("free-mountain-vector-01.jpg", "Summer", "instagram", None, "2025-02-20", 60, []),
)


def probs_for(label: str, confidence: float) -> list[float | None]:
    """Eight probabilities with ``label`` on top at ``confidence``; contempt absent (None)."""
    rest = (1.0 - confidence) / 6
    out: list[float | None] = []
    for e in EMOTIONS:
        if e is Emotion.CONTEMPT:
            out.append(None)
        else:
            out.append(confidence if e.value == label else rest)
    return out


def _face(asset: Asset, frame: Frame, run: AnalysisRun, i: int, label: str, conf: float,
          uncertain: bool, track: int | None = None) -> Face:
    p = probs_for(label, conf)
    return Face(frame_id=frame.id, run_id=run.id, asset_id=asset.id, x1=10 + 60 * i, y1=20,
                x2=60 + 60 * i, y2=80, det_score=0.99, landmarks=None,
                **{f"p_{e.value}": v for e, v in zip(EMOTIONS, p, strict=True)},
                dominant=Emotion(label), confidence=conf, uncertain=uncertain, track_id=track)


def fill(ws: Workspace, media) -> dict[str, int]:
    """Two brands, one old and one current run, faces, a video with tracks, one review.

    Returns:
        Names → ids the tests need (``brand``, ``other_brand``, ``reviewed_face``, …).
    """
    ids: dict[str, int] = {}
    with ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        other = get_or_create_brand(s, name="Other")
        camps = {n: get_or_create_campaign(s, brand=brand, name=n) for n in ("Spring", "Summer")}
        chans = {p: get_or_create_channel(s, brand=brand, platform=Platform(p), handle="acme")
                 for p in ("instagram", "youtube")}
        ambs = {n: get_or_create_ambassador(s, brand=brand, name=n) for n in ("Ana", "Ben")}
        old = AnalysisRun(model_name="old-model", model_version="0.1", status=RunStatus.DONE)
        run = AnalysisRun(model_name="fer-mini-xception", model_version="1.0",
                          status=RunStatus.DONE, parameters={
                              "uncertainty": {"min_confidence": 0.4, "min_margin": 0.1}},
                          finished_at=datetime(2025, 3, 1, tzinfo=UTC))
        s.add_all([old, run])
        s.flush()
        for fname, camp, chan, amb, posted, likes, faces in PLAN:
            stored = ws.media.put_file(media.path(fname))
            a = Asset(brand_id=brand.id, kind=AssetKind.IMAGE, source_uri=f"file:{fname}",
                      channel_id=chans[chan].id, campaign_id=camps[camp].id,
                      ambassador_id=ambs[amb].id if amb else None,
                      posted_at=datetime.fromisoformat(posted).replace(tzinfo=UTC),
                      likes=likes, comments=likes // 10, shares=likes // 20, views=likes * 10,
                      sha256=stored.sha256, media_path=stored.relpath,
                      status=AssetStatus.ANALYZED)
            s.add(a)
            s.flush()
            ids[fname] = a.id
            fr = Frame(asset_id=a.id, timestamp_ms=0)
            s.add(fr)
            s.add(AssetAnalysis(asset_id=a.id, run_id=old.id, status=AssetStatus.ANALYZED))
            s.add(AssetAnalysis(asset_id=a.id, run_id=run.id, status=AssetStatus.ANALYZED,
                                n_faces=len(faces)))
            s.flush()
            # the old run saw an angry face everywhere: it must never be counted
            s.add(_face(a, fr, old, 0, "anger", 0.99, False))
            for i, (label, conf, unc) in enumerate(faces):
                s.add(_face(a, fr, run, i, label, conf, unc))
        s.flush()
        _video(ws, s, brand, chans["youtube"], camps["Summer"], run, media, ids)
        _other_brand(ws, s, other, run, media, ids)
        _pending_and_failed(ws, s, brand, media, ids)
        multi = s.query(Face).filter(Face.asset_id == ids["multi_face.jpg"],
                                     Face.run_id == run.id).order_by(Face.id).all()
        # a person relabels the uncertain "sad" face as neutral
        sad = next(f for f in multi if f.dominant is Emotion.SAD)
        s.add(Review(face_id=sad.id, label=Emotion.NEUTRAL, reviewer="tester"))
        # the per-asset face counts, written as the analysis job writes them
        s.flush()
        refresh_face_counts(session=s)
        ids.update(brand=brand.id, other_brand=other.id, run=run.id, old_run=old.id,
                   reviewed_face=sad.id, spring=camps["Spring"].id, summer=camps["Summer"].id,
                   instagram=chans["instagram"].id, youtube=chans["youtube"].id,
                   ana=ambs["Ana"].id, ben=ambs["Ben"].id)
    return ids


def _video(ws, s, brand, chan, camp, run, media, ids) -> None:
    stored = ws.media.put_file(media.path("single_face.mp4"))
    a = Asset(brand_id=brand.id, kind=AssetKind.VIDEO, source_uri="file:single_face.mp4",
              channel_id=chan.id, campaign_id=camp.id, sha256=stored.sha256,
              media_path=stored.relpath, status=AssetStatus.ANALYZED, duration_s=2.0,
              posted_at=datetime(2025, 2, 24, tzinfo=UTC), likes=90, comments=9,
              shares=4, views=900)
    s.add(a)
    s.flush()
    ids["video"] = a.id
    s.add(AssetAnalysis(asset_id=a.id, run_id=run.id, status=AssetStatus.ANALYZED))
    for t, label, conf in ((0, "neutral", 0.7), (1000, "happy", 0.8)):
        fr = Frame(asset_id=a.id, timestamp_ms=t)
        s.add(fr)
        s.flush()
        s.add(_face(a, fr, run, 0, label, conf, False, track=1))
    s.flush()


def _other_brand(ws, s, other, run, media, ids) -> None:
    stored = ws.media.put_file(media.path("single_face.jpg"))
    a = Asset(brand_id=other.id, kind=AssetKind.IMAGE, source_uri="file:other.jpg",
              sha256=stored.sha256, media_path=stored.relpath, status=AssetStatus.ANALYZED,
              posted_at=datetime(2025, 1, 10, tzinfo=UTC), likes=5)
    s.add(a)
    s.flush()
    ids["other_asset"] = a.id
    fr = Frame(asset_id=a.id, timestamp_ms=0)
    s.add(fr)
    s.add(AssetAnalysis(asset_id=a.id, run_id=run.id, status=AssetStatus.ANALYZED))
    s.flush()
    for i in range(3):
        s.add(_face(a, fr, run, i, "fear", 0.9, False))


def _pending_and_failed(ws, s, brand, media, ids) -> None:
    ingest = IngestRun(brand_id=brand.id, source_kind="files", source="/tmp/upload",
                       status=RunStatus.DONE)
    s.add(ingest)
    s.flush()
    s.add(IngestItem(run_id=ingest.id, source="/tmp/upload/broken.jpg",
                     outcome=Outcome.FAILED, reason="not an image: cannot identify image file"))
    stored = ws.media.put_file(media.path("BWPictureHuman.jpg"))
    a = Asset(brand_id=brand.id, kind=AssetKind.IMAGE, source_uri="file:bw.jpg",
              sha256=stored.sha256, media_path=stored.relpath, status=AssetStatus.FAILED,
              error="decoder error: truncated file", posted_at=datetime(2025, 2, 26,
                                                                       tzinfo=UTC))
    s.add(a)
    s.flush()
    ids["failed_asset"] = a.id
    s.add(IngestItem(run_id=ingest.id, source="/tmp/upload/bw.jpg", outcome=Outcome.STORED,
                     asset_id=a.id))
