"""The rows of the exports (CSV, Excel): every counted face and every asset of a selection,
streamed as typed rows (field names are the file's column names, in order)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from brandmood.core.types import LABELS
from db.models import Asset, AssetKind, Face
from db.queries.faces import PROB_COLUMNS
from db.queries.selection import (
    DashboardFilters,
    ambassador_key,
    asset_conditions,
    counted_faces,
)


class FaceExportRow(NamedTuple):
    """One counted face with its asset's fields (``label``: the counted label; ``model``:
    the model's top emotion; ``p_*``: the eight probabilities, None: no such class)."""

    face_id: int
    asset_id: int
    kind: AssetKind
    posted_at: datetime | None
    campaign_id: int | None
    channel_id: int | None
    ambassador_id: int | None
    frame_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    det_score: float
    label: str
    model: str
    confidence: float | None
    uncertain: bool
    track_id: int | None
    run_id: int
    p_neutral: float | None
    p_happy: float | None
    p_sad: float | None
    p_surprise: float | None
    p_fear: float | None
    p_anger: float | None
    p_disgust: float | None
    p_contempt: float | None


class AssetExportRow(NamedTuple):
    """One asset of the selection with its engagement and its counted faces per label."""

    asset_id: int
    kind: str
    posted_at: datetime | None
    source_uri: str
    permalink: str | None
    campaign_id: int | None
    channel_id: int | None
    ambassador_id: int | None
    likes: int | None
    comments: int | None
    shares: int | None
    views: int | None
    status: str
    error: str | None
    faces_neutral: int
    faces_happy: int
    faces_sad: int
    faces_surprise: int
    faces_fear: int
    faces_anger: int
    faces_disgust: int
    faces_contempt: int
    faces_uncertain: int


def iter_face_rows(*, session: Session, filters: DashboardFilters,
                   batch: int = 5000) -> Iterator[FaceExportRow]:
    """Every counted face of the selection with its asset's fields, by id, streamed."""
    faces = counted_faces(filters)
    q = (faces.query(Face.id, Face.asset_id, Asset.kind, Asset.posted_at, Asset.campaign_id,
                     Asset.channel_id, ambassador_key(), Face.frame_id, Face.x1, Face.y1,
                     Face.x2, Face.y2, Face.det_score, faces.label,
                     type_coerce(Face.dominant, String), Face.confidence, Face.uncertain,
                     Face.track_id, Face.run_id, *(getattr(Face, c) for c in PROB_COLUMNS))
         .order_by(Face.id).execution_options(yield_per=batch))
    for row in session.execute(q):
        yield FaceExportRow._make(row)


def iter_asset_rows(*, session: Session, filters: DashboardFilters,
                    batch: int = 2000) -> Iterator[AssetExportRow]:
    """Every asset of the selection with its counted faces per label, by id, streamed."""
    faces = counted_faces(filters)
    per = faces.query(Face.asset_id.label("asset_id"), *(
        func.count().filter(faces.label == lbl).label(f"faces_{lbl}") for lbl in LABELS)
    ).group_by(Face.asset_id).subquery()
    q = (select(Asset.id, type_coerce(Asset.kind, String), Asset.posted_at, Asset.source_uri,
                Asset.permalink, Asset.campaign_id, Asset.channel_id, Asset.ambassador_id,
                Asset.likes, Asset.comments, Asset.shares, Asset.views,
                type_coerce(Asset.status, String), Asset.error,
                *(func.coalesce(per.c[f"faces_{lbl}"], 0) for lbl in LABELS))
         .outerjoin(per, per.c.asset_id == Asset.id).where(*asset_conditions(filters))
         .order_by(Asset.id).execution_options(yield_per=batch))
    for row in session.execute(q):
        yield AssetExportRow._make(row)
