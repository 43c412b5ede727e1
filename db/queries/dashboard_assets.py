"""Dashboard queries of the Assets page: the filtered gallery, one asset's faces, top assets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, not_, or_, select, true
from sqlalchemy.orm import Session

from analytics.aggregate import dominant_label
from brandmood.core.types import UNCERTAIN, Emotion
from db.models import AnalysisRun, Asset, AssetAnalysis, AssetKind, AssetStatus, Face, Frame
from db.queries.dashboard import (
    DashboardFilters,
    ambassador_key,
    asset_conditions,
    current_run_of_asset,
    face_base,
    latest_reviews,
)


@dataclass(frozen=True)
class GalleryItem:
    """One asset tile: what it is, where its file lives, and its counted faces."""

    asset_id: int
    kind: AssetKind
    media_path: str
    posted_at: datetime | None
    status: AssetStatus
    faces: int
    label: str | None


@dataclass(frozen=True)
class FaceInfo:
    """One face of an asset as the asset page shows it.

    Attributes:
        box: ``(x1, y1, x2, y2)`` in original pixels.
        probs: the eight probabilities in ``EMOTIONS`` order (None: no such class).
        label: the model's label (``"uncertain"`` where flagged).
        review: the newest reviewed label, if any.
    """

    face_id: int
    frame_id: int
    timestamp_ms: int
    box: tuple[float, float, float, float]
    det_score: float
    probs: tuple[float | None, ...]
    label: str | None
    confidence: float | None
    uncertain: bool
    track_id: int | None
    review: str | None


@dataclass(frozen=True)
class AssetDetail:
    """An asset with its names, run and faces (in frame, then face order)."""

    asset: Asset
    campaign: str | None
    channel: str | None
    ambassador: str | None
    run_label: str | None
    faces: list[FaceInfo]


def gallery(*, session: Session, filters: DashboardFilters, labels: tuple[str, ...] = (),
            limit: int = 24, offset: int = 0) -> tuple[int, list[GalleryItem]]:
    """A page of assets, newest first, optionally only those with a face of ``labels``.

    Returns:
        ``(total matching assets, items of this page)``.
    """
    cond = asset_conditions(filters)
    base = face_base(filters)
    if labels or filters.min_confidence > 0 or filters.ambassador_ids:
        cond.append(_has_counted_face(filters, labels))
    total = int(session.scalar(select(func.count(Asset.id)).where(*cond)) or 0)
    assets = session.scalars(select(Asset).where(*cond).order_by(
        Asset.posted_at.desc().nulls_last(), Asset.id.desc()).limit(limit).offset(offset)).all()
    ids = [a.id for a in assets]
    counts: dict[int, dict[str, int]] = {}
    if ids:
        q = (base.query(Face.asset_id, base.label, func.count())
             .where(Face.asset_id.in_(ids)).group_by(Face.asset_id, base.label))
        for aid, lbl, n in session.execute(q):
            counts.setdefault(aid, {})[str(lbl)] = int(n)
    items = []
    for a in assets:
        c = counts.get(a.id, {})
        label = dominant_label(c) or (UNCERTAIN if c else None)
        items.append(GalleryItem(a.id, a.kind, a.media_path, a.posted_at, a.status,
                                 sum(c.values()), label))
    return total, items


def _has_counted_face(filters: DashboardFilters, labels: tuple[str, ...]):
    """Condition on ``asset``: it has a counted face (of one of ``labels``, if given).

    Without reviews this is an ``EXISTS`` per asset that seeks the covering face index
    (asset, run, label) and stops at the first match, instead of listing every face.
    """
    if filters.use_reviews:
        base = face_base(filters)
        q = base.query(Face.asset_id)
        return Asset.id.in_(q.where(base.label.in_(labels)) if labels else q)
    conds = [Face.asset_id == Asset.id, Face.run_id == current_run_of_asset(),
             Face.dominant.is_not(None)]
    if labels:
        conds.append(or_(*(Face.uncertain == true() if lbl == UNCERTAIN else
                           and_(Face.dominant == Emotion(lbl), not_(Face.uncertain))
                           for lbl in labels)))
    if not filters.include_uncertain:
        conds.append(not_(Face.uncertain))
    if filters.min_confidence > 0:
        conds.append(Face.confidence >= filters.min_confidence)
    if filters.ambassador_ids:
        conds.append(ambassador_key().in_(filters.ambassador_ids))
    return exists().where(*conds)


def asset_detail(*, session: Session, asset_id: int) -> AssetDetail | None:
    """An asset with every face of its latest successful analysis run (None: no asset)."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        return None
    run_id = session.scalar(select(func.max(AssetAnalysis.run_id)).where(
        AssetAnalysis.asset_id == asset_id, AssetAnalysis.status == AssetStatus.ANALYZED))
    run = session.get(AnalysisRun, run_id) if run_id else None
    rv = latest_reviews()
    q = (select(Face, Frame.timestamp_ms, rv.c.label)
         .join(Frame, Frame.id == Face.frame_id)
         .outerjoin(rv, rv.c.face_id == Face.id)
         .where(Face.asset_id == asset_id, Face.run_id == (run_id or -1))
         .order_by(Frame.timestamp_ms, Face.id))
    faces = []
    for face, ts, review in session.execute(q):
        dom = face.dominant.value if face.dominant else None
        faces.append(FaceInfo(
            face.id, face.frame_id, int(ts), (face.x1, face.y1, face.x2, face.y2),
            face.det_score, tuple(face.probs()), UNCERTAIN if face.uncertain and dom else dom,
            face.confidence, bool(face.uncertain), face.track_id, review))
    return AssetDetail(
        asset, asset.campaign.name if asset.campaign else None,
        asset.channel.label if asset.channel else None,
        asset.ambassador.name if asset.ambassador else None,
        f"{run.model_name}@{run.model_version}" if run else None, faces)


def top_assets(*, session: Session, filters: DashboardFilters, label: str,
               limit: int = 4) -> list[tuple[int, str, float]]:
    """Image assets with the most confident faces of ``label``: ``(asset_id, media_path,
    confidence)``, best first (one row per asset)."""
    base = face_base(filters)
    best = func.max(Face.confidence).label("best")
    q = (base.query(Asset.id, Asset.media_path, best)
         .where(base.label == label, Asset.kind == AssetKind.IMAGE)
         .group_by(Asset.id, Asset.media_path).order_by(best.desc(), Asset.id).limit(limit))
    return [(int(a), str(p), float(c or 0.0)) for a, p, c in session.execute(q)]
