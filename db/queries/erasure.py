"""Erasure in the database: the rows of a person, an asset, a campaign, a channel or a brand.

Each ``erase_*_rows`` function deletes (or detaches) rows in the caller's transaction and
returns :class:`Removed`: row counts, the assets whose faces changed, and the media files
and derived pictures (crops, thumbnails) to delete once the transaction has committed
(:func:`delete_files`, which keeps a content-addressed file while another asset still
uses it). Every erasure ends with :func:`after_erasure` in the same transaction: the one
place that recomputes what is summed from faces, so that no chart or export still counts
what is gone.

Rows are deleted explicitly, children first, rather than left to ``ON DELETE`` rules, so
both backends remove exactly the same rows.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from db.media_store import MediaStore, face_crop_prefix
from db.models import (
    Ambassador,
    AmbassadorConsent,
    AmbassadorReference,
    Asset,
    AssetAnalysis,
    AssetFaceCounts,
    AssetPost,
    Brand,
    Campaign,
    Channel,
    ErasureKind,
    ErasureLog,
    Face,
    FaceEmbedding,
    Frame,
    IngestItem,
    IngestRun,
    Job,
    Membership,
    Review,
    Setting,
)
from db.queries.analysis import refresh_face_counts

SALT_KEY = "erasure_salt"
"""The :class:`~db.models.Setting` holding the workspace's secret salt of opaque ids."""


class MatchedFaces(enum.StrEnum):
    """What erasing an ambassador does with the faces matched to them."""

    REMOVE = "remove"
    """Delete the face rows (emotion rows included): the person is gone from every count."""
    DETACH = "detach"
    """Keep the face rows as anonymous faces (emotions still counted), without the identity
    link, the embedding or a stored crop."""


@dataclass
class Removed:
    """What an erasure removed from the database, and what it leaves to the media store.

    Attributes:
        counts: rows removed or detached, by what they were (``faces``, ``references`` …).
        asset_ids: assets whose faces changed or that are gone (for :func:`after_erasure`).
        files: media files to delete where no remaining asset uses them.
        crops: ``(media file, crop name prefix)`` of derived pictures to delete.
        derived: media files whose every derived picture (thumbnails) is to be deleted.
    """

    counts: Counter[str] = field(default_factory=Counter)
    asset_ids: set[int] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    crops: set[tuple[str, str]] = field(default_factory=set)
    derived: set[str] = field(default_factory=set)

    def merge(self, other: Removed) -> Removed:
        self.counts.update(other.counts)
        self.asset_ids |= other.asset_ids
        self.files |= other.files
        self.crops |= other.crops
        self.derived |= other.derived
        return self


def opaque_id(*, session: Session, kind: ErasureKind, key: object) -> str:
    """An id for the erased subject that says nothing about it: sha256 of the kind, its
    database key and the workspace's secret salt (made on first use)."""
    row = session.get(Setting, SALT_KEY)
    if row is None:
        row = Setting(key=SALT_KEY, value=secrets.token_hex(32))
        session.add(row)
        session.flush()
    return hashlib.sha256(f"{kind.value}:{key}:{row.value}".encode()).hexdigest()


def log_erasure(*, session: Session, kind: ErasureKind, subject: str,
                counts: dict[str, int], erased_by: str) -> ErasureLog:
    """Store the audit entry of an erasure (its receipt)."""
    entry = ErasureLog(kind=kind, subject=subject, counts=dict(counts), erased_by=erased_by)
    session.add(entry)
    session.flush()
    return entry


def last_erasure_id(*, session: Session) -> int:
    """The newest audit entry's id (0: none): changes with every erasure or retention pass,
    so a cache of pictures keyed by it forgets removed ones."""
    return int(session.scalar(select(func.max(ErasureLog.id))) or 0)


def recent_erasures(*, session: Session, limit: int = 50) -> list[ErasureLog]:
    """The latest audit entries (workspace-wide: they name no brand), newest first."""
    return list(session.scalars(select(ErasureLog).order_by(ErasureLog.id.desc())
                                .limit(limit)))


def _ids(values: Iterable[int]) -> list[int]:
    return sorted({int(v) for v in values})


def _delete(session: Session, stmt) -> int:
    return int(session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


def _face_media(session: Session, face_ids: Sequence[int]) -> Removed:
    """The crops of these faces and the thumbnails of their assets, as to-dos."""
    out = Removed()
    if not face_ids:
        return out
    rows = session.execute(
        select(Face.asset_id, Frame.timestamp_ms, Face.x1, Face.y1, Face.x2, Face.y2,
               Asset.media_path)
        .join(Frame, Frame.id == Face.frame_id).join(Asset, Asset.id == Face.asset_id)
        .where(Face.id.in_(face_ids)))
    for asset_id, ts, x1, y1, x2, y2, path in rows:
        out.asset_ids.add(int(asset_id))
        out.crops.add((path, face_crop_prefix(ts, (x1, y1, x2, y2))))
        out.derived.add(path)
    return out


def _delete_faces(session: Session, face_ids: Sequence[int]) -> Counter[str]:
    """Delete faces with their reviews and embeddings; references made from them stay
    (their own vector) but lose the link."""
    n: Counter[str] = Counter()
    if not face_ids:
        return n
    ids = list(face_ids)
    n["reviews"] += _delete(session, delete(Review).where(Review.face_id.in_(ids)))
    n["embeddings"] += _delete(session, delete(FaceEmbedding).where(
        FaceEmbedding.face_id.in_(ids)))
    session.execute(update(AmbassadorReference).where(AmbassadorReference.face_id.in_(ids))
                    .values(face_id=None).execution_options(synchronize_session=False))
    n["faces"] += _delete(session, delete(Face).where(Face.id.in_(ids)))
    return n


def erase_biometrics(*, session: Session, ambassador_id: int) -> Removed:
    """Delete an ambassador's references and the embeddings of the faces matched to them
    (what a withdrawn consent removes); machine matches are detached, reviewers' verdicts
    stay (they are people's judgements, not biometric data)."""
    out = Removed()
    matched = _ids(session.scalars(select(Face.id).where(Face.ambassador_id == ambassador_id)))
    out.counts["references"] += _delete(session, delete(AmbassadorReference).where(
        AmbassadorReference.ambassador_id == ambassador_id))
    if matched:
        out.counts["embeddings"] += _delete(session, delete(FaceEmbedding).where(
            FaceEmbedding.face_id.in_(matched)))
        out.counts["matches_detached"] += _delete(session, update(Face).where(
            Face.id.in_(matched), Face.ambassador_confirmed.is_(None))
            .values(ambassador_id=None, ambassador_distance=None))
        out.merge(_face_media(session, matched))
    return out


def erase_ambassador_rows(*, session: Session, ambassador_id: int,
                          matched: MatchedFaces) -> Removed:
    """Erase an ambassador: references, consents, the faces matched to them (removed or
    detached, per ``matched``) with their embeddings and crops, tags, and the record.

    A face a reviewer said is *not* them only loses the link to them.
    """
    faces = session.execute(select(Face.id, Face.ambassador_confirmed)
                            .where(Face.ambassador_id == ambassador_id)).all()
    theirs = _ids(f for f, confirmed in faces if confirmed is not False)
    out = _face_media(session, theirs)
    out.counts["references"] += _delete(session, delete(AmbassadorReference).where(
        AmbassadorReference.ambassador_id == ambassador_id))
    if matched is MatchedFaces.REMOVE:
        out.counts.update(_delete_faces(session, theirs))
    elif theirs:
        out.counts["embeddings"] += _delete(session, delete(FaceEmbedding).where(
            FaceEmbedding.face_id.in_(theirs)))
        out.counts["faces_detached"] += _delete(session, update(Face).where(
            Face.id.in_(theirs)).values(ambassador_id=None, ambassador_distance=None,
                                        ambassador_confirmed=None))
    out.counts["rejected_links"] += _delete(session, update(Face).where(
        Face.ambassador_id == ambassador_id).values(ambassador_id=None,
                                                    ambassador_distance=None,
                                                    ambassador_confirmed=None))
    out.counts["tags"] += _delete(session, update(Asset).where(
        Asset.ambassador_id == ambassador_id).values(ambassador_id=None))
    out.counts["consents"] += _delete(session, delete(AmbassadorConsent).where(
        AmbassadorConsent.ambassador_id == ambassador_id))
    out.counts["ambassadors"] += _delete(session, delete(Ambassador).where(
        Ambassador.id == ambassador_id))
    return out


def face_identity(*, session: Session, face_id: int) -> tuple[int, int | None]:
    """``(brand id, ambassador id)`` of a face: the ambassador it is matched to (and no
    reviewer rejected), or None.

    Raises:
        LookupError: for an unknown face.
    """
    row = session.execute(select(Asset.brand_id, Face.ambassador_id, Face.ambassador_confirmed)
                          .join(Asset, Asset.id == Face.asset_id)
                          .where(Face.id == face_id)).first()
    if row is None:
        raise LookupError(f"no face with id {face_id}")
    brand_id, amb, confirmed = row
    return int(brand_id), (int(amb) if amb is not None and confirmed is not False else None)


def erase_face_rows(*, session: Session, face_id: int) -> Removed:
    """Erase one unmatched face and the faces of the same person in the same video (its
    track in the same run): rows, reviews, embeddings and crops."""
    face = session.get(Face, face_id)
    if face is None:
        raise LookupError(f"no face with id {face_id}")
    q = select(Face.id).where(Face.id == face_id)
    if face.track_id is not None:
        q = select(Face.id).where(Face.asset_id == face.asset_id, Face.run_id == face.run_id,
                                  Face.track_id == face.track_id)
    ids = _ids(session.scalars(q))
    out = _face_media(session, ids)
    out.counts.update(_delete_faces(session, ids))
    return out


def erase_asset_rows(*, session: Session, asset_ids: Iterable[int]) -> Removed:
    """Erase assets: faces (reviews, embeddings), frames, outcomes, counts, posts, ingest
    records and the asset rows; their media files become to-dos."""
    ids = _ids(asset_ids)
    out = Removed()
    if not ids:
        return out
    out.files |= set(session.scalars(select(Asset.media_path).where(Asset.id.in_(ids))))
    out.asset_ids |= set(ids)
    faces = _ids(session.scalars(select(Face.id).where(Face.asset_id.in_(ids))))
    out.counts.update(_delete_faces(session, faces))
    out.counts["frames"] += _delete(session, delete(Frame).where(Frame.asset_id.in_(ids)))
    _delete(session, delete(AssetFaceCounts).where(AssetFaceCounts.asset_id.in_(ids)))
    out.counts["outcomes"] += _delete(session, delete(AssetAnalysis).where(
        AssetAnalysis.asset_id.in_(ids)))
    out.counts["posts"] += _delete(session, delete(AssetPost).where(AssetPost.asset_id.in_(ids)))
    out.counts["ingest_records"] += _delete(session, delete(IngestItem).where(
        IngestItem.asset_id.in_(ids)))
    session.execute(update(Asset).where(Asset.near_duplicate_of.in_(ids))
                    .values(near_duplicate_of=None).execution_options(synchronize_session=False))
    out.counts["assets"] += _delete(session, delete(Asset).where(Asset.id.in_(ids)))
    return out


def erase_campaign_rows(*, session: Session, campaign_id: int) -> Removed:
    """Erase a campaign and every asset in it."""
    out = erase_asset_rows(session=session, asset_ids=session.scalars(
        select(Asset.id).where(Asset.campaign_id == campaign_id)))
    out.counts["campaigns"] += _delete(session, delete(Campaign).where(
        Campaign.id == campaign_id))
    return out


def erase_channel_rows(*, session: Session, channel_id: int) -> Removed:
    """Erase a channel, every asset first posted there and every later post there."""
    out = erase_asset_rows(session=session, asset_ids=session.scalars(
        select(Asset.id).where(Asset.channel_id == channel_id)))
    out.counts["posts"] += _delete(session, delete(AssetPost).where(
        AssetPost.channel_id == channel_id))
    out.counts["channels"] += _delete(session, delete(Channel).where(Channel.id == channel_id))
    return out


def erase_brand_rows(*, session: Session, brand_id: int) -> Removed:
    """Erase a brand: its assets, ambassadors (references, consents), campaigns, channels,
    ingest runs, members and jobs, and the brand."""
    out = erase_asset_rows(session=session, asset_ids=session.scalars(
        select(Asset.id).where(Asset.brand_id == brand_id)))
    for amb in _ids(session.scalars(select(Ambassador.id).where(
            Ambassador.brand_id == brand_id))):
        out.merge(erase_ambassador_rows(session=session, ambassador_id=amb,
                                        matched=MatchedFaces.REMOVE))
    runs = select(IngestRun.id).where(IngestRun.brand_id == brand_id)
    _delete(session, delete(IngestItem).where(IngestItem.run_id.in_(runs)))
    out.counts["ingest_runs"] += _delete(session, delete(IngestRun).where(
        IngestRun.brand_id == brand_id))
    out.counts["campaigns"] += _delete(session, delete(Campaign).where(
        Campaign.brand_id == brand_id))
    out.counts["channels"] += _delete(session, delete(Channel).where(
        Channel.brand_id == brand_id))
    out.counts["members"] += _delete(session, delete(Membership).where(
        Membership.brand_id == brand_id))
    out.counts["jobs"] += _delete(session, delete(Job).where(Job.brand_id == brand_id))
    out.counts["brands"] += _delete(session, delete(Brand).where(Brand.id == brand_id))
    return out


def after_erasure(*, session: Session, asset_ids: Iterable[int]) -> None:
    """Recompute everything summed from the faces of these assets, in the erasing
    transaction: the per-asset face counts and the dashboard rollups
    (:func:`db.queries.analysis.refresh_face_counts` refreshes both), and each outcome's
    face count (a video's stored summary, which counted the old faces, is dropped).

    The one place every erasure and retention pass calls.
    """
    ids = _ids(asset_ids)
    if not ids:
        return
    refresh_face_counts(session=session, asset_ids=ids)
    counts = (select(func.count(Face.id)).where(Face.asset_id == AssetAnalysis.asset_id,
                                                Face.run_id == AssetAnalysis.run_id)
              .scalar_subquery())
    stale = AssetAnalysis.n_faces != counts
    session.execute(update(AssetAnalysis).where(AssetAnalysis.asset_id.in_(ids), stale)
                    .values(n_faces=counts, summary={})
                    .execution_options(synchronize_session=False))


def media_in_use(*, session: Session, relpath: str) -> bool:
    """True while an asset whose media the retention policy has not removed uses the file."""
    return bool(session.scalar(select(func.count(Asset.id)).where(
        Asset.media_path == relpath, Asset.media_removed_at.is_(None))))


def delete_files(store: MediaStore, removed: Removed, *, session: Session) -> Counter[str]:
    """Delete from the media store what an erasure left to do (after its commit): crops,
    derived pictures, and files no remaining asset uses (checked through ``session``).

    Returns:
        Counts of ``files``, ``crops`` and ``derived`` pictures deleted.
    """
    n: Counter[str] = Counter()
    for path, prefix in sorted(removed.crops):
        n["crops"] += store.delete_derived(path, starting=prefix)
    for path in sorted(removed.derived - removed.files):
        n["derived"] += store.delete_derived(path)
    for path in sorted(removed.files):
        n["derived"] += store.delete_derived(path) if not media_in_use(
            session=session, relpath=path) else 0
        n["files"] += store.delete_if_unreferenced(
            path, is_referenced=lambda p: media_in_use(session=session, relpath=p))
    return n


__all__ = ["MatchedFaces", "Removed", "after_erasure", "delete_files", "erase_ambassador_rows",
           "erase_asset_rows", "erase_biometrics", "erase_brand_rows", "erase_campaign_rows",
           "erase_channel_rows", "erase_face_rows", "face_identity", "last_erasure_id",
           "log_erasure", "media_in_use", "opaque_id", "recent_erasures"]
