"""Review queue, stored reviews (one per reviewer and face), and the workspace settings
kept in the ``setting`` table."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from sqlalchemy import String, delete, func, select, type_coerce
from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope
from brandmood.core.settings import REVIEWS_PER_FACE
from brandmood.core.types import Emotion
from db.models import Asset, Face, Review, Setting
from db.queries.consensus import ReviewState, consensus_reviews, review_states, reviews_per_face
from db.queries.faces import StoredFace, stored_faces
from db.queries.selection import DashboardFilters, counted_faces, in_scope


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
    # multi-review (issue 15): k, the reviews each face needs (brandmood.core.settings)
    REVIEWS_PER_FACE = REVIEWS_PER_FACE.name


LEGACY_REVIEWER = "legacy"
"""The reviewer of the reviews stored before multi-review (migration 0008_multi_review)."""


@dataclass(frozen=True)
class ReviewProgress:
    """How far the reviews of the brands in a scope are.

    Attributes:
        agreed: faces whose reviews reached a consensus label.
        changed: agreed faces whose consensus differs from the model's top emotion.
        disputed: faces with at least k reviews and no strict majority.
        pending: reviewed faces with fewer than k reviews.
        mine: faces the reviewer has labelled.
        k: the reviews each face needs.
    """

    agreed: int
    changed: int
    disputed: int
    pending: int
    mine: int
    k: int


def review_queue(*, session: Session, filters: DashboardFilters, reviewer: str,
                 limit: int = 20) -> list[StoredFace]:
    """Counted faces (on model labels) that ``reviewer`` has not labelled and that have
    fewer than k reviews, most uncertain first: flagged first, then lowest confidence
    (unknown last), then by id. Nothing of the others' labels is returned.
    """
    faces = counted_faces(replace(filters, use_reviews=False))
    mine = select(Review.face_id).where(Review.reviewer == _reviewer(reviewer))
    enough = (select(Review.face_id).group_by(Review.face_id)
              .having(func.count() >= reviews_per_face()))
    # 1) the page's face ids from the covering index alone (top-N sort, no wide rows) …
    q = (faces.query(Face.id).where(Face.id.not_in(mine), Face.id.not_in(enough))
         .order_by(Face.uncertain.desc(), Face.confidence.asc().nulls_last(), Face.id))
    ids = list(session.scalars(q.limit(limit)))
    if not ids:
        return []
    # 2) … then the faces with their media, by id
    by_id = {face.id: StoredFace.of(face, ts, kind, path) for face, ts, kind, path
             in session.execute(stored_faces().where(Face.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def _reviewer(reviewer: str) -> str:
    """The stored form of a reviewer's name.

    Raises:
        ValueError: a blank name.
    """
    name = str(reviewer).strip()[:200]
    if not name:
        raise ValueError("a review needs its reviewer (a user, or a name)")
    return name


def face_brand_id(*, session: Session, face_id: int) -> int | None:
    """The brand of the face's asset (None: no such face)."""
    return session.scalar(select(Asset.brand_id).join(Face, Face.asset_id == Asset.id)
                          .where(Face.id == face_id))


def store_review(*, session: Session, face_id: int, label: Emotion, scope: BrandScope,
                 reviewer: str) -> Review:
    """Record a person's label for a face (a confirmation stores the model's label); a
    reviewer has one review per face, so a second one replaces their first.

    Args:
        scope: the brands the reviewer may review in (the face's asset must be in one).
        reviewer: who labels (the signed-in user, or a name; never blank).

    Raises:
        LookupError: if the face does not exist.
        AccessDenied: the face's brand is outside ``scope``.
        TypeError: if ``label`` is not an :class:`Emotion`.
        ValueError: a blank reviewer.
    """
    if not isinstance(label, Emotion):
        raise TypeError(f"label must be an Emotion, got {type(label).__name__}")
    who = _reviewer(reviewer)
    if session.get(Face, face_id) is None:
        raise LookupError(f"no face with id {face_id}")
    brand_id = face_brand_id(session=session, face_id=face_id)
    scope.check(brand_id, f"face #{face_id}")
    # a relabel replaces the row (a new id: the dashboards' data version sees the change)
    session.execute(delete(Review).where(Review.face_id == face_id, Review.reviewer == who))
    review = Review(face_id=face_id, label=label, reviewer=who)
    session.add(review)
    session.flush()
    return review


def _scoped(q, scope: BrandScope, face_id):
    """``q`` restricted to faces of the brands in ``scope``."""
    if scope.is_all:
        return q
    return (q.join(Face, Face.id == face_id).join(Asset, Asset.id == Face.asset_id)
            .where(in_scope(Asset.brand_id, scope)))


def review_count(*, session: Session, scope: BrandScope) -> tuple[int, int]:
    """``(faces with a consensus label, those whose consensus differs from the model's)``
    of the brands in ``scope``."""
    rv = consensus_reviews()
    q = (select(func.count(), func.count().filter(rv.c.label != type_coerce(Face.dominant,
                                                                           String)))
         .select_from(rv).join(Face, Face.id == rv.c.face_id))
    if not scope.is_all:
        q = q.join(Asset, Asset.id == Face.asset_id).where(in_scope(Asset.brand_id, scope))
    total, changed = session.execute(q).one()
    return int(total), int(changed or 0)


def review_progress(*, session: Session, scope: BrandScope, reviewer: str) -> ReviewProgress:
    """Consensus, disputed and pending faces of the brands in ``scope``, and how many of
    them ``reviewer`` labelled."""
    st = review_states()
    counts = dict(session.execute(_scoped(
        select(st.c.state, func.count()).select_from(st), scope, st.c.face_id)
        .group_by(st.c.state)).all())
    mine = session.scalar(_scoped(select(func.count()).select_from(Review), scope,
                                  Review.face_id).where(Review.reviewer == reviewer.strip()))
    agreed, changed = review_count(session=session, scope=scope)
    return ReviewProgress(agreed, changed, int(counts.get(ReviewState.DISPUTED.value, 0)),
                          int(counts.get(ReviewState.PENDING.value, 0)), int(mine or 0),
                          reviews_per_face_of(session=session))


def reviews_per_face_of(*, session: Session) -> int:
    """k: the workspace's reviews per face (the setting's default where unset)."""
    return int(session.scalar(select(reviews_per_face())))


def get_setting(*, session: Session, key: SettingKey, default: str | None = None) -> str | None:
    """A stored setting's value (``default`` where unset)."""
    row = session.get(Setting, key.value)
    return row.value if row is not None else default


def set_setting(*, session: Session, key: SettingKey, value: str) -> None:
    """Store a setting (insert or update).

    Raises:
        ValueError: for an uncertainty threshold outside ``[0, 1]``, or reviews per face
            outside the setting's range (:class:`~brandmood.core.settings.SettingError`).
    """
    if key is SettingKey.UNCERTAINTY_THRESHOLD:
        v = float(value)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"uncertainty threshold must be in [0, 1], got {value}")
    if key is SettingKey.REVIEWS_PER_FACE:
        value = str(REVIEWS_PER_FACE.parse(value))
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


@dataclass(frozen=True)
class ReviewRow:
    """One review, with its face's model label and where the face stands."""

    face_id: int
    reviewer: str
    label: Emotion
    model: Emotion | None
    """The model's top emotion (also where the face is flagged uncertain)."""
    state: ReviewState
    consensus: Emotion | None


def review_rows(*, session: Session, scope: BrandScope,
                brand_id: int | None = None) -> list[ReviewRow]:
    """Every review of the faces of the brands in ``scope`` (``brand_id``: of that brand
    only), by face and reviewer.

    Raises:
        AccessDenied: ``brand_id`` is outside ``scope``.
    """
    if brand_id is not None:
        scope.check(brand_id)
    st = review_states()
    q = (select(Review.face_id, Review.reviewer, Review.label, Face.dominant, st.c.state,
                st.c.label)
         .join(Face, Face.id == Review.face_id).join(Asset, Asset.id == Face.asset_id)
         .join(st, st.c.face_id == Review.face_id)
         .order_by(Review.face_id, Review.reviewer))
    if not scope.is_all:
        q = q.where(in_scope(Asset.brand_id, scope))
    if brand_id is not None:
        q = q.where(Asset.brand_id == brand_id)
    return [ReviewRow(f, r, Emotion(lbl), dom, ReviewState(state),
                      Emotion(cons) if cons is not None else None)
            for f, r, lbl, dom, state, cons in session.execute(q)]
