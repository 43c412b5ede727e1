"""Agreement among reviewers, and of the model with their consensus, for a brand scope.

Reads every review of the scope (:func:`db.queries.review.review_rows`, whose consensus and
state come from the one rule in :mod:`db.queries.consensus`) and computes the figures of
:mod:`analytics.agreement`. Fine-tuning reports :func:`human_ceiling` next to the model's
accuracy: how often two people label a face alike is the most a model can be expected to
agree with one person.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from sqlalchemy.orm import Session

from analytics.agreement import Agreement, ReviewedUnit, agreement
from brandmood.core.access import BrandScope
from db.queries.review import ReviewRow, review_rows, reviews_per_face_of


@dataclass(frozen=True)
class AgreementReport:
    """The figures of :func:`analytics.agreement.agreement`, and the workspace's k."""

    figures: Agreement
    k: int


def units(rows: list[ReviewRow]) -> list[ReviewedUnit]:
    """One :class:`ReviewedUnit` per face of ``rows`` (which come ordered by face)."""
    out = []
    for face_id, group in groupby(rows, key=lambda r: r.face_id):
        g = list(group)
        out.append(ReviewedUnit(face_id, tuple((r.reviewer, r.label) for r in g), g[0].model,
                                g[0].state, g[0].consensus))
    return out


def agreement_report(*, session: Session, scope: BrandScope,
                     brand_id: int | None = None) -> AgreementReport:
    """Agreement figures of the reviews of the brands in ``scope`` (or of ``brand_id``).

    Raises:
        AccessDenied: ``brand_id`` is outside ``scope``.
    """
    rows = review_rows(session=session, scope=scope, brand_id=brand_id)
    return AgreementReport(agreement(units(rows)), reviews_per_face_of(session=session))


@dataclass(frozen=True)
class HumanCeiling:
    """How much people agree on the faces a model learns from."""

    percent_agreement: float | None
    """Share of pairs of reviews of one face that give the same label."""
    alpha: float | None
    faces_reviewed_twice: int
    agreed: int
    disputed: int

    def as_metrics(self) -> dict[str, float | int | None]:
        """The figures under the names a model version's metrics store them."""
        return {"human_agreement": self.percent_agreement, "human_alpha": self.alpha,
                "human_faces_reviewed_twice": self.faces_reviewed_twice,
                "consensus_faces": self.agreed, "disputed_faces": self.disputed}


def human_ceiling(*, session: Session, brand_id: int | None = None) -> HumanCeiling:
    """The reviewers' agreement on the workspace's faces (of ``brand_id``; the operator's
    view: every brand)."""
    from brandmood.core.types import ReviewState

    a = agreement_report(session=session, scope=BrandScope.ALL, brand_id=brand_id).figures
    return HumanCeiling(a.percent_agreement, a.alpha, a.multiply_reviewed,
                        a.states[ReviewState.AGREED], a.states[ReviewState.DISPUTED])
