"""Ambassador references, face embeddings, machine matches and reviewers' verdicts on them.

A face's ``ambassador_id`` is what recognition (or a reviewer) says; an asset's
``ambassador_id`` is the metadata tag of the post. The two are kept apart and both shown.
``Face.ambassador_confirmed``: None = machine match only, True = confirmed by a reviewer,
False = rejected by a reviewer. Machine matching never overwrites a reviewer's verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.orm import Session

from brandmood.core.types import Emotion
from db.models import (
    Ambassador,
    AmbassadorReference,
    Asset,
    AssetKind,
    Brand,
    Face,
    FaceEmbedding,
    Frame,
)
from db.queries.consent import has_current_consent
from db.queries.core import NotFoundError
from db.queries.faces import StoredFace, stored_faces
from db.queries.rollups import refresh_rollups


@dataclass(frozen=True)
class AmbassadorSummary:
    """One ambassador with counts of references and recognized faces."""

    id: int
    name: str
    n_references: int
    n_matched: int
    n_confirmed: int
    n_tagged_assets: int


@dataclass(frozen=True)
class MatchRow:
    """A face matched (by machine or reviewer) to an ambassador, for review.

    Attributes:
        ambassador_name: the name of ``face.ambassador_id`` (None: no match).
        tagged_ambassador_id: the ambassador the post names in its metadata.
    """

    face: StoredFace
    ambassador_name: str | None
    tagged_ambassador_id: int | None


def get_ambassador(*, session: Session, ambassador_id: int) -> Ambassador:
    """The ambassador with this id.

    Raises:
        NotFoundError: if there is none.
    """
    amb = session.get(Ambassador, ambassador_id)
    if amb is None:
        raise NotFoundError(f"no ambassador with id {ambassador_id}")
    return amb


def find_ambassador(*, session: Session, brand: Brand, name: str) -> Ambassador:
    """The brand's ambassador called ``name``.

    Raises:
        NotFoundError: if there is none (the message lists the ones there are).
    """
    amb = session.scalar(select(Ambassador).where(Ambassador.brand_id == brand.id,
                                                  Ambassador.name == name))
    if amb is None:
        known = ", ".join(session.scalars(select(Ambassador.name).where(
            Ambassador.brand_id == brand.id).order_by(Ambassador.name))) or "none yet"
        raise NotFoundError(f"unknown ambassador {name!r} of {brand.name} (ambassadors: {known})")
    return amb


def add_reference(*, session: Session, ambassador_id: int, model: str, vector: bytes,
                  source: str = "", face_id: int | None = None) -> AmbassadorReference:
    """Store one reference embedding of an ambassador."""
    ref = AmbassadorReference(ambassador_id=ambassador_id, model=model, vector=vector,
                              source=source, face_id=face_id)
    session.add(ref)
    session.flush()
    return ref


def count_references(*, session: Session, ambassador_id: int, model: str) -> int:
    return int(session.scalar(select(func.count(AmbassadorReference.id)).where(
        AmbassadorReference.ambassador_id == ambassador_id,
        AmbassadorReference.model == model)) or 0)


def brand_references(*, session: Session, brand_id: int,
                     model: str) -> list[tuple[int, bytes]]:
    """``(ambassador_id, vector bytes)`` of every reference of the brand's ambassadors who
    have a current consent to recognition (no one else is recognised)."""
    rows = session.execute(
        select(AmbassadorReference.ambassador_id, AmbassadorReference.vector)
        .join(Ambassador, Ambassador.id == AmbassadorReference.ambassador_id)
        .where(Ambassador.brand_id == brand_id, AmbassadorReference.model == model,
               has_current_consent())
        .order_by(AmbassadorReference.id))
    return [(int(a), bytes(v)) for a, v in rows]


def list_ambassadors(*, session: Session, brand_id: int,
                     model: str | None = None) -> list[AmbassadorSummary]:
    """Every ambassador of a brand with reference, match and tag counts, by name.

    Args:
        model: count only this embedder's references (None: every embedder's).
    """
    out: list[AmbassadorSummary] = []
    for amb in session.scalars(select(Ambassador).where(Ambassador.brand_id == brand_id)
                               .order_by(Ambassador.name)):
        refs = select(func.count(AmbassadorReference.id)).where(
            AmbassadorReference.ambassador_id == amb.id)
        if model is not None:
            refs = refs.where(AmbassadorReference.model == model)
        n_refs = int(session.scalar(refs) or 0)
        matched = select(func.count(Face.id)).where(
            Face.ambassador_id == amb.id, or_(Face.ambassador_confirmed.is_(None),
                                              Face.ambassador_confirmed.is_(True)))
        confirmed = select(func.count(Face.id)).where(Face.ambassador_id == amb.id,
                                                      Face.ambassador_confirmed.is_(True))
        tagged = select(func.count(Asset.id)).where(Asset.ambassador_id == amb.id)
        out.append(AmbassadorSummary(amb.id, amb.name, n_refs,
                                     int(session.scalar(matched) or 0),
                                     int(session.scalar(confirmed) or 0),
                                     int(session.scalar(tagged) or 0)))
    return out


def _latest_run_faces(brand_id: int) -> Select[Face, int, AssetKind, str]:
    """:func:`~db.queries.faces.stored_faces` of each brand asset's latest run with faces."""
    latest = (select(Face.asset_id, func.max(Face.run_id).label("run_id"))
              .join(Asset, Asset.id == Face.asset_id).where(Asset.brand_id == brand_id)
              .group_by(Face.asset_id).subquery())
    return stored_faces().join(latest, (latest.c.asset_id == Face.asset_id)
                               & (latest.c.run_id == Face.run_id))


def faces_to_match(*, session: Session, brand_id: int,
                   asset_ids: Sequence[int] | None = None) -> list[StoredFace]:
    """Faces of the latest analysis run of each of the brand's assets, by asset and time."""
    q = _latest_run_faces(brand_id)
    if asset_ids is not None:
        q = q.where(Face.asset_id.in_(list(asset_ids)))
    q = q.order_by(Face.asset_id, Frame.timestamp_ms, Face.id)
    return [StoredFace.of(*row) for row in session.execute(q)]


def face_embeddings(*, session: Session, face_ids: Sequence[int],
                    model: str) -> dict[int, bytes]:
    """Stored embeddings of these faces under ``model``, by face id."""
    if not face_ids:
        return {}
    rows = session.execute(select(FaceEmbedding.face_id, FaceEmbedding.vector).where(
        FaceEmbedding.face_id.in_(list(face_ids)), FaceEmbedding.model == model))
    return {int(f): bytes(v) for f, v in rows}


def drop_embeddings(*, session: Session, face_ids: Sequence[int]) -> int:
    """Delete these faces' stored embeddings (of every embedder); returns how many."""
    if not face_ids:
        return 0
    done = session.execute(delete(FaceEmbedding).where(
        FaceEmbedding.face_id.in_(list(face_ids)))
        .execution_options(synchronize_session=False))
    return int(done.rowcount or 0)


def store_embedding(*, session: Session, face_id: int, model: str, vector: bytes) -> None:
    """Store (or replace) one face's embedding."""
    row = session.scalar(select(FaceEmbedding).where(FaceEmbedding.face_id == face_id,
                                                     FaceEmbedding.model == model))
    if row is None:
        session.add(FaceEmbedding(face_id=face_id, model=model, vector=vector))
    else:
        row.vector = vector
    session.flush()


def set_machine_match(*, session: Session, face_id: int, ambassador_id: int | None,
                      distance: float | None) -> bool:
    """Record a machine match (or unknown); a reviewer's verdict is never overwritten.

    Returns:
        True if the face was updated, False if a reviewer had already decided it.
    """
    face = session.get(Face, face_id)
    if face is None:
        raise NotFoundError(f"no face with id {face_id}")
    if face.ambassador_confirmed is not None:
        return False
    face.ambassador_id = ambassador_id
    face.ambassador_distance = distance
    session.flush()
    refresh_rollups(session=session, asset_ids=[face.asset_id])
    return True


def review_match(*, session: Session, face_id: int, confirmed: bool,
                 ambassador_id: int | None = None) -> Face:
    """A reviewer's verdict: confirm the match, reject it, or reassign to another ambassador.

    Args:
        confirmed: True to confirm (the face is ``ambassador_id``, or the current match);
            False to reject (the face is not its current ambassador).
        ambassador_id: for confirm, reassign to this ambassador.

    Raises:
        NotFoundError: for an unknown face or ambassador.
        ValueError: confirming a face that has no ambassador to confirm.
    """
    face = session.get(Face, face_id)
    if face is None:
        raise NotFoundError(f"no face with id {face_id}")
    if ambassador_id is not None:
        get_ambassador(session=session, ambassador_id=ambassador_id)
        if ambassador_id != face.ambassador_id:
            face.ambassador_distance = None
        face.ambassador_id = ambassador_id
    if confirmed and face.ambassador_id is None:
        raise ValueError(f"face {face_id} has no ambassador to confirm; name one")
    face.ambassador_confirmed = confirmed
    session.flush()
    refresh_rollups(session=session, asset_ids=[face.asset_id])
    return face


def match_rows(*, session: Session, brand_id: int, ambassador_id: int | None = None,
               include_unknown: bool = False, limit: int = 200) -> list[MatchRow]:
    """Faces matched to the brand's ambassadors (optionally one), nearest first."""
    q = _latest_run_faces(brand_id).add_columns(Asset.ambassador_id, Ambassador.name).outerjoin(
        Ambassador, Ambassador.id == Face.ambassador_id)
    if ambassador_id is not None:
        q = q.where(Face.ambassador_id == ambassador_id)
    elif not include_unknown:
        q = q.where(Face.ambassador_id.is_not(None))
    q = q.order_by(Face.ambassador_distance.is_(None), Face.ambassador_distance, Face.id)
    return [MatchRow(StoredFace.of(face, ts, kind, path), name, tag)
            for face, ts, kind, path, tag, name in session.execute(q.limit(limit))]


@dataclass(frozen=True)
class AmbassadorEmotions:
    """Dominant-emotion counts of an ambassador's own face vs other faces in their posts.

    "Their posts" are assets where their face was recognized or that name them in the
    metadata. Faces flagged uncertain or unclassified are left out.
    """

    own: dict[Emotion, int]
    others: dict[Emotion, int]
    n_assets: int


def ambassador_emotions(*, session: Session, ambassador_id: int) -> AmbassadorEmotions:
    """Emotions of the ambassador's own face vs the other faces in the ambassador's posts."""
    amb = get_ambassador(session=session, ambassador_id=ambassador_id)
    rows = session.execute(_latest_run_faces(amb.brand_id).add_columns(Asset.ambassador_id))
    faces = [(StoredFace.of(f, ts, kind, path), tag) for f, ts, kind, path, tag in rows]
    own_assets = {f.asset_id for f, _ in faces
                  if f.ambassador_id == amb.id and f.ambassador_confirmed is not False}
    posts = own_assets | {f.asset_id for f, tag in faces if tag == amb.id}
    own: Counter[Emotion] = Counter()
    others: Counter[Emotion] = Counter()
    for f, _tag in faces:
        if f.asset_id not in posts or f.row.dominant is None or f.row.uncertain:
            continue
        mine = f.ambassador_id == amb.id and f.ambassador_confirmed is not False
        (own if mine else others)[f.row.dominant] += 1
    return AmbassadorEmotions(dict(own), dict(others), len(posts))


def reference_from_face(*, session: Session, face_id: int, model: str) -> AmbassadorReference:
    """Make a confirmed face a new reference of its ambassador (its stored embedding).

    Raises:
        ValueError: if the face is not confirmed or has no stored embedding.
    """
    face = session.get(Face, face_id)
    if face is None:
        raise NotFoundError(f"no face with id {face_id}")
    if face.ambassador_confirmed is not True or face.ambassador_id is None:
        raise ValueError(f"face {face_id} is not a confirmed ambassador face")
    vec = face_embeddings(session=session, face_ids=[face_id], model=model).get(face_id)
    if vec is None:
        raise ValueError(f"face {face_id} has no {model} embedding; run `ambassador match`")
    return add_reference(session=session, ambassador_id=face.ambassador_id, model=model,
                         vector=vec, source=f"face:{face_id}", face_id=face_id)
