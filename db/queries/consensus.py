"""The consensus rule, written here only: which label a face's reviews give it.

A workspace asks for ``k`` reviews per face (:data:`brandmood.core.settings.REVIEWS_PER_FACE`,
stored in the ``setting`` table; 1 where unset). A face with fewer than ``k`` reviews is
*pending*; once it has at least ``k``, its consensus label is the label a strict majority of
its reviews give (more than half of the reviews cast), and a face without one is *disputed*.
Every "reviewed label" of the app (dashboards with reviewed labels, the fairness check's
accuracy, fine-tuning and its calibration) is this consensus; disputed and pending faces
count on their model label and never train. :func:`analytics.agreement.consensus` states
the same rule in plain Python (the tests compare the two).
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Subquery,
    case,
    cast,
    func,
    literal,
    select,
    type_coerce,
)

from brandmood.core.settings import REVIEWS_PER_FACE
from brandmood.core.types import ReviewState
from db.models import Review, Setting


def reviews_per_face() -> ColumnElement[int]:
    """``k``: the workspace's stored reviews per face (the setting's default where unset)."""
    stored = (select(cast(Setting.value, Integer))
              .where(Setting.key == REVIEWS_PER_FACE.name).scalar_subquery())
    return func.coalesce(stored, REVIEWS_PER_FACE.default)


def _votes() -> tuple[Subquery, Subquery]:
    """``(votes, totals)``: reviews per ``(face_id, label)`` (``n``) and per face (``n``)."""
    votes = (select(Review.face_id.label("face_id"),
                    type_coerce(Review.label, String).label("label"),
                    func.count().label("n"))
             .group_by(Review.face_id, Review.label).subquery("votes"))
    totals = (select(Review.face_id.label("face_id"), func.count().label("n"))
              .group_by(Review.face_id).subquery("totals"))
    return votes, totals


def consensus_reviews() -> Subquery:
    """Subquery ``(face_id, label)``: the consensus label of each face that has one."""
    votes, totals = _votes()
    return (select(votes.c.face_id, votes.c.label)
            .join(totals, totals.c.face_id == votes.c.face_id)
            .where(totals.c.n >= reviews_per_face(), votes.c.n * 2 > totals.c.n)
            .subquery("rv"))


def review_states() -> Subquery:
    """Subquery ``(face_id, reviews, label, state)`` of every face with a review: its
    number of reviews, its consensus label (None unless agreed) and its
    :class:`ReviewState` value."""
    _, totals = _votes()
    agreed = consensus_reviews()
    k = reviews_per_face()
    state = case((totals.c.n < k, literal(ReviewState.PENDING.value)),
                 (agreed.c.label.is_not(None), literal(ReviewState.AGREED.value)),
                 else_=literal(ReviewState.DISPUTED.value))
    return (select(totals.c.face_id, totals.c.n.label("reviews"), agreed.c.label,
                   state.label("state"))
            .outerjoin(agreed, agreed.c.face_id == totals.c.face_id)
            .subquery("states"))
