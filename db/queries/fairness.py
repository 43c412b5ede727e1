"""Reads and writes of the fairness check: counted faces per skin-tone group, label, top
emotion and review (one ``GROUP BY``), and the faces' stored skin-tone angles (``face.ita``).

The groups are given by the caller as ``(lower bound, name)`` pairs from the top (the
bins are defined once, in :mod:`analytics.fairness`), and turned into one SQL ``CASE``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, case, func, literal, select, update
from sqlalchemy.orm import Session

from brandmood.core.types import Emotion
from db.models import AnalysisRun, Face
from db.queries.consensus import consensus_reviews
from db.queries.faces import StoredFace, stored_faces
from db.queries.selection import DashboardFilters, asset_conditions, counted_faces


@dataclass(frozen=True)
class GroupLabelCount:
    """Counted faces of one (group, label, top emotion, review) combination.

    Attributes:
        group: the group's name, or ``not_estimated`` where the face has no angle.
        label: the label it counts under on model labels (an emotion or ``"uncertain"``).
        dominant: the model's top emotion.
        review: the consensus label of its reviews (None: none yet, or disputed).
        faces: how many faces.
        confidence_sum, confidence_n: sum and count of their known confidences.
    """

    group: str
    label: str
    dominant: Emotion
    review: Emotion | None
    faces: int
    confidence_sum: float
    confidence_n: int


def group_label_counts(*, session: Session, filters: DashboardFilters,
                       bounds: Sequence[tuple[float, str]], lowest: str,
                       not_estimated: str) -> list[GroupLabelCount]:
    """Counted faces of the selection (on *model* labels: the check audits the model, so
    ``filters.use_reviews`` is ignored) per skin-tone group, label, top emotion and review.

    Args:
        bounds: ``(lower bound in degrees, group)`` from the top: a face whose angle is
            above a bound falls in the first such group.
        lowest: the group of an angle at or below every bound.
        not_estimated: the group of a face without an angle.
    """
    faces = counted_faces(replace(filters, use_reviews=False))
    group = case((Face.ita.is_(None), literal(not_estimated)),
                 *((Face.ita > float(b), literal(name)) for b, name in bounds),
                 else_=literal(lowest)).label("grp")
    rv = consensus_reviews()
    q = (select(group, faces.label.label("lbl"), Face.dominant, rv.c.label, func.count(),
                func.sum(Face.confidence), func.count(Face.confidence))
         .select_from(faces.from_assets().outerjoin(rv, rv.c.face_id == Face.id))
         .where(*asset_conditions(faces.filters), *faces.where())
         .group_by(group, faces.label, Face.dominant, rv.c.label))
    return [GroupLabelCount(str(g), str(lbl), dom, Emotion(r) if r is not None else None,
                            int(n), float(s or 0.0), int(cn))
            for g, lbl, dom, r, n, s, cn in session.execute(q)]


def assets_without_ita(*, session: Session, everything: bool = False) -> list[int]:
    """Ids of the assets that have a stored face (any run) without an angle (``everything``:
    any stored face), in id order."""
    q = select(Face.asset_id).distinct().order_by(Face.asset_id)
    if not everything:
        q = q.where(Face.ita.is_(None))
    return list(session.scalars(q))


def faces_without_ita(*, session: Session, asset_id: int,
                      everything: bool = False) -> list[tuple[StoredFace, dict]]:
    """An asset's stored faces (any run) without an angle (``everything``: all of them),
    each with its run's parameters (the video sampling interval ``every_s`` is there)."""
    q = (stored_faces().add_columns(AnalysisRun.parameters)
         .join(AnalysisRun, AnalysisRun.id == Face.run_id)
         .where(Face.asset_id == asset_id).order_by(Face.id))
    if not everything:
        q = q.where(Face.ita.is_(None))
    return [(StoredFace.of(face, ts, kind, path), dict(params or {}))
            for face, ts, kind, path, params in session.execute(q)]


def set_ita(*, session: Session, angles: Mapping[int, float | None]) -> int:
    """Store the angles of faces (face id → degrees; None or NaN: not estimated).

    Returns:
        How many face rows were given.
    """
    params = [{"fid": int(fid), "angle": None if a is None or math.isnan(a) else float(a)}
              for fid, a in angles.items()]
    if params:
        stmt = (update(Face).where(Face.id == bindparam("fid"))
                .values(ita=bindparam("angle")).execution_options(synchronize_session=False))
        session.connection().execute(stmt, params)
    return len(params)


def ita_of(*, session: Session, face_ids: Sequence[int]) -> dict[int, float | None]:
    """The stored angle of each of these faces."""
    return dict(session.execute(select(Face.id, Face.ita).where(Face.id.in_(list(face_ids))))
                .tuples().all())


__all__ = ["GroupLabelCount", "assets_without_ita", "faces_without_ita", "group_label_counts",
           "ita_of", "set_ita"]
