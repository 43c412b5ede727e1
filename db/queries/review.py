"""Review queue, stored reviews, and the dashboard settings kept in the ``setting`` table."""

from __future__ import annotations

import enum
from dataclasses import replace

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope
from brandmood.core.types import Emotion
from db.models import Asset, Face, Review, Setting
from db.queries.faces import StoredFace, stored_faces
from db.queries.selection import DashboardFilters, counted_faces, in_scope, latest_reviews


class SettingKey(enum.StrEnum):
    """Settings the dashboard stores."""

    DEFAULT_MODEL = "default_model"
    UNCERTAINTY_THRESHOLD = "uncertainty_threshold"
    USE_REVIEWS = "use_reviews"
    # responsible use (issue 14): the intended-use confirmation (JSON: who, when, text
    # version) and the Art. 50(3) disclosure's fields
    INTENDED_USE_CONFIRMATION = "intended_use_confirmation"
    DISCLOSURE_CONTACT = "disclosure_contact"
    DISCLOSURE_PURPOSE = "disclosure_purpose"
    DISCLOSURE_RETENTION = "disclosure_retention"


def review_queue(*, session: Session, filters: DashboardFilters, limit: int = 20,
                 include_reviewed: bool = False) -> list[StoredFace]:
    """Counted faces (on model labels), most uncertain first: flagged first, then lowest
    confidence (unknown last), then by id.

    Args:
        include_reviewed: also list faces someone already reviewed.
    """
    faces = counted_faces(replace(filters, use_reviews=False))
    # 1) the page's face ids from the covering index alone (top-N sort, no wide rows) …
    q = faces.query(Face.id)
    if not include_reviewed:
        q = q.where(Face.id.not_in(select(latest_reviews().c.face_id)))
    q = q.order_by(Face.uncertain.desc(), Face.confidence.asc().nulls_last(), Face.id)
    ids = list(session.scalars(q.limit(limit)))
    if not ids:
        return []
    # 2) … then the faces with their media, by id
    by_id = {face.id: StoredFace.of(face, ts, kind, path) for face, ts, kind, path
             in session.execute(stored_faces().where(Face.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def face_brand_id(*, session: Session, face_id: int) -> int | None:
    """The brand of the face's asset (None: no such face)."""
    return session.scalar(select(Asset.brand_id).join(Face, Face.asset_id == Asset.id)
                          .where(Face.id == face_id))


def store_review(*, session: Session, face_id: int, label: Emotion, scope: BrandScope,
                 reviewer: str = "") -> Review:
    """Record a person's label for a face (a confirmation stores the model's label).

    Args:
        scope: the brands the reviewer may review in (the face's asset must be in one).

    Raises:
        LookupError: if the face does not exist.
        AccessDenied: the face's brand is outside ``scope``.
        TypeError: if ``label`` is not an :class:`Emotion`.
    """
    if not isinstance(label, Emotion):
        raise TypeError(f"label must be an Emotion, got {type(label).__name__}")
    if session.get(Face, face_id) is None:
        raise LookupError(f"no face with id {face_id}")
    brand_id = face_brand_id(session=session, face_id=face_id)
    scope.check(brand_id, f"face #{face_id}")
    review = Review(face_id=face_id, label=label, reviewer=reviewer.strip()[:200])
    session.add(review)
    session.flush()
    return review


def review_count(*, session: Session, scope: BrandScope) -> tuple[int, int]:
    """``(reviewed faces, reviewed faces whose label differs from the model's)`` of the
    brands in ``scope``."""
    rv = latest_reviews()
    q = (select(func.count(), func.count().filter(rv.c.label != type_coerce(Face.dominant,
                                                                           String)))
         .select_from(rv).join(Face, Face.id == rv.c.face_id))
    if not scope.is_all:
        q = q.join(Asset, Asset.id == Face.asset_id).where(in_scope(Asset.brand_id, scope))
    total, changed = session.execute(q).one()
    return int(total), int(changed or 0)


def get_setting(*, session: Session, key: SettingKey, default: str | None = None) -> str | None:
    """A stored setting's value (``default`` where unset)."""
    row = session.get(Setting, key.value)
    return row.value if row is not None else default


def set_setting(*, session: Session, key: SettingKey, value: str) -> None:
    """Store a setting (insert or update).

    Raises:
        ValueError: for an uncertainty threshold outside ``[0, 1]``.
    """
    if key is SettingKey.UNCERTAINTY_THRESHOLD:
        v = float(value)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"uncertainty threshold must be in [0, 1], got {value}")
    row = session.get(Setting, key.value)
    if row is None:
        session.add(Setting(key=key.value, value=value))
    else:
        row.value = value
    session.flush()


def uncertainty_threshold(*, session: Session) -> float | None:
    """The stored uncertainty threshold (minimum top probability); None where unset, and
    then each model's own calibrated threshold applies."""
    value = get_setting(session=session, key=SettingKey.UNCERTAINTY_THRESHOLD)
    return float(value) if value is not None else None


def clear_setting(*, session: Session, key: SettingKey) -> None:
    """Remove a stored setting (its default applies again)."""
    row = session.get(Setting, key.value)
    if row is not None:
        session.delete(row)
        session.flush()
