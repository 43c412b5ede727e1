"""Dashboard queries of the Assets page: the filtered gallery, one asset's faces, top assets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from brandmood.core.access import AccessDenied, BrandScope, refusal
from brandmood.core.types import UNCERTAIN, dominant_label
from db.models import AnalysisRun, Asset, AssetAnalysis, AssetKind, AssetStatus, Face, Frame
from db.queries.consensus import consensus_reviews
from db.queries.faces import StoredFace, stored_faces
from db.queries.selection import DashboardFilters, asset_conditions, counted_faces


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
class AssetDetail:
    """An asset with its names, run and faces (in frame, then face order).

    Attributes:
        reviews: face id → the consensus label of its reviews, for the faces that have one.
    """

    asset: Asset
    campaign: str | None
    channel: str | None
    ambassador: str | None
    run_label: str | None
    faces: list[StoredFace]
    reviews: dict[int, str]


def gallery(*, session: Session, filters: DashboardFilters, labels: tuple[str, ...] = (),
            limit: int = 24, offset: int = 0) -> tuple[int, list[GalleryItem]]:
    """A page of assets, newest first, optionally only those with a face of ``labels``.

    Returns:
        ``(total matching assets, items of this page)``.
    """
    cond = asset_conditions(filters)
    faces = counted_faces(filters)
    if labels or filters.min_confidence > 0 or filters.ambassador_ids:
        cond.append(_has_counted_face(filters, labels))
    total = int(session.scalar(select(func.count(Asset.id)).where(*cond)) or 0)
    assets = session.scalars(select(Asset).where(*cond).order_by(
        Asset.posted_at.desc().nulls_last(), Asset.id.desc()).limit(limit).offset(offset)).all()
    ids = [a.id for a in assets]
    counts: dict[int, dict[str, int]] = {}
    if ids:
        q = (faces.query(Face.asset_id, faces.label, func.count())
             .where(Face.asset_id.in_(ids)).group_by(Face.asset_id, faces.label))
        for aid, lbl, n in session.execute(q):
            counts.setdefault(aid, {})[str(lbl)] = int(n)
    items = []
    for a in assets:
        c = counts.get(a.id, {})
        label = dominant_label(c) or (UNCERTAIN if c else None)
        items.append(GalleryItem(a.id, a.kind, a.media_path, a.posted_at, a.status,
                                 sum(c.values()), label))
    return total, items


def _has_counted_face(filters: DashboardFilters,
                      labels: tuple[str, ...]) -> ColumnElement[bool]:
    """Condition on ``asset``: it has a counted face (of one of ``labels``, if given).

    Without reviews this is an ``EXISTS`` per asset that seeks the covering face index
    (asset, run, label) and stops at the first match, instead of listing every face.
    """
    faces = counted_faces(filters)
    label = [or_(*(faces.label_is(lbl) for lbl in labels))] if labels else []
    if faces.review is not None:
        return Asset.id.in_(faces.query(Face.asset_id).where(*label))
    return exists().where(*faces.on, *faces.where(), *label)


def asset_detail(*, session: Session, asset_id: int, scope: BrandScope) -> AssetDetail:
    """An asset with every face of its latest successful analysis run.

    Raises:
        AccessDenied: the asset does not exist or its brand is outside ``scope`` (one
            message for both).
    """
    asset = session.get(Asset, asset_id)
    if asset is None or not scope.allows(asset.brand_id):
        raise AccessDenied(refusal(f"asset #{asset_id}"))
    run_id = session.scalar(select(func.max(AssetAnalysis.run_id)).where(
        AssetAnalysis.asset_id == asset_id, AssetAnalysis.status == AssetStatus.ANALYZED))
    run = session.get(AnalysisRun, run_id) if run_id else None
    rv = consensus_reviews()
    q = (stored_faces().add_columns(rv.c.label)
         .outerjoin(rv, rv.c.face_id == Face.id)
         .where(Face.asset_id == asset_id, Face.run_id == (run_id or -1))
         .order_by(Frame.timestamp_ms, Face.id))
    faces, reviews = [], {}
    for face, ts, kind, path, review in session.execute(q):
        faces.append(StoredFace.of(face, ts, kind, path))
        if review is not None:
            reviews[face.id] = str(review)
    return AssetDetail(
        asset, asset.campaign.name if asset.campaign else None,
        asset.channel.label if asset.channel else None,
        asset.ambassador.name if asset.ambassador else None,
        f"{run.model_name}@{run.model_version}" if run else None, faces, reviews)


def top_assets(*, session: Session, filters: DashboardFilters, label: str,
               limit: int = 4) -> list[tuple[int, str, float]]:
    """Image assets with the most confident faces of ``label``: ``(asset_id, media_path,
    confidence)``, best first (one row per asset)."""
    faces = counted_faces(filters)
    best = func.max(Face.confidence).label("best")
    q = (faces.query(Asset.id, Asset.media_path, best)
         .where(faces.label_is(label), Asset.kind == AssetKind.IMAGE)
         .group_by(Asset.id, Asset.media_path).order_by(best.desc(), Asset.id).limit(limit))
    return [(int(a), str(p), float(c or 0.0)) for a, p, c in session.execute(q)]
