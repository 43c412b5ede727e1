"""Ambassador jobs: enroll from photos or video frames, match every analyzed face.

Each bad input (unreadable file, no face) fails that one item with a reason; the job goes on.

Recognition needs consent (issue 14): enrolment is refused unless the ambassador has a
current consent record (or one is given with the photos), matching compares faces with
consenting ambassadors' references only, and only faces of a consenting ambassador keep an
identity embedding (an embedding computed to compare a face is dropped otherwise).

References and face embeddings are stored under the embedder's name (``embedder.info.name``)
and a face is only ever compared with the references of the model that embedded it. Without
an ``embedder`` argument, the configured one is used (``BRANDMOOD_EMBEDDER``, default dlib).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select

from analytics.identity import (
    MAX_REFERENCES,
    Embedder,
    Gallery,
    IdentityError,
    ThresholdRule,
    largest_face,
    match,
    match_tracks,
    vector_from_bytes,
    vector_to_bytes,
)
from analytics.identity_registry import embedder_spec, get_embedder, resolve_rule
from brandmood.core.progress import Progress, safe_progress
from brandmood.core.settings import load_config
from brandmood.core.types import FaceDetections
from db.media_store import MediaStoreError
from db.models import Ambassador, AssetKind
from db.queries import identity as q
from db.queries.consent import Consent, ConsentError, consenting_ids, record_consent
from db.queries.core import get_brand, get_or_create_ambassador
from db.queries.faces import StoredFace
from db.workspace import Workspace

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"})


@dataclass(frozen=True)
class EnrollItem:
    """What became of one enrollment source (a photo, or one video frame)."""

    source: str
    ok: bool
    reason: str = ""


@dataclass
class EnrollSummary:
    """Outcome of one enrollment: the ambassador and one item per source."""

    ambassador_id: int
    added: int = 0
    items: list[EnrollItem] = field(default_factory=list)


@dataclass
class MatchSummary:
    """Outcome of one matching pass over analyzed faces (with the ``embedder`` named);
    ``threshold`` is the one-reference threshold (the rule's floor)."""

    threshold: float
    embedder: str = ""
    n_faces: int = 0
    n_matched: int = 0
    n_unknown: int = 0
    n_kept_reviewed: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    per_ambassador: dict[int, int] = field(default_factory=dict)


def _detector():
    from analytics.detection import MTCNNDetector

    return MTCNNDetector()


def configured_embedder(embedder: Embedder | str | None = None) -> Embedder:
    """The embedder to use: the one given (or named), else ``BRANDMOOD_EMBEDDER``'s.

    Raises:
        ValueError: for an unknown embedder name.
        brandmood.core.fetch.AssetError: its weights cannot be found or loaded.
    """
    if embedder is None or isinstance(embedder, str):
        return get_embedder(_name_of(embedder))
    return embedder


def _name_of(embedder: Embedder | str | None) -> str:
    if embedder is None:
        return load_config().embedder
    return embedder if isinstance(embedder, str) else embedder.info.name


def _dim(embedder: Embedder) -> int:
    return embedder_spec(embedder.info.name).dim


def load_sources(paths: Sequence[Path], *, every_s: float = 1.0,
                 frames_per_video: int = 5) -> tuple[list[tuple[str, np.ndarray]],
                                                     list[EnrollItem]]:
    """Read photos, and a few frames of each video, as named ``(H, W, 3)`` RGB images.

    Returns:
        ``(images, failures)``: loaded images named ``path`` or ``path@<ms>ms``, and one
        failed :class:`EnrollItem` per unreadable file.
    """
    from analytics.images import load_image
    from analytics.video import iter_frames

    images: list[tuple[str, np.ndarray]] = []
    failed: list[EnrollItem] = []
    for path in paths:
        try:
            if Path(path).suffix.lower() in VIDEO_SUFFIXES:
                for k, fr in enumerate(iter_frames(path, every_s=every_s)):
                    if k >= frames_per_video:
                        break
                    images.append((f"{path}@{fr.timestamp_ms}ms", fr.image))
            else:
                images.append((str(path), load_image(Path(path))))
        except (OSError, ValueError) as exc:
            failed.append(EnrollItem(str(path), False, str(exc) or type(exc).__name__))
    return images, failed


def embed_largest_faces(images: Sequence[tuple[str, np.ndarray]], *, detector=None,
                        embedder: Embedder | None = None
                        ) -> tuple[list[tuple[str, np.ndarray]], list[EnrollItem]]:
    """Embed the largest face of each image.

    Returns:
        ``(embedded, failures)``: ``(name, (d,) vector)`` per image with a face, and a
        failed item per image without one.
    """
    detector = detector or _detector()
    embedder = configured_embedder(embedder)
    out: list[tuple[str, np.ndarray]] = []
    failed: list[EnrollItem] = []
    for (name, img), faces in zip(images, detector.detect([im for _, im in images]),
                                  strict=True):
        try:
            i = largest_face(faces)
        except IdentityError as exc:
            failed.append(EnrollItem(name, False, str(exc)))
            continue
        out.append((name, embedder.embed(img, faces.boxes[i:i + 1])[0]))
    return out, failed


def check_consent(ws: Workspace, *, brand: str, name: str, consent: Consent | None) -> None:
    """Refuse an enrolment that has no consent: none given, none on record.

    Raises:
        NotFoundError: for an unknown brand.
        ConsentError: the ambassador has no current consent and none is given.
    """
    if consent is not None:
        return
    with ws.session() as s:
        b = get_brand(s, name=brand)
        amb = s.scalar(select(Ambassador).where(Ambassador.brand_id == b.id,
                                                Ambassador.name == name))
        if amb is None or amb.consent is None:
            raise ConsentError(
                "enrolment refused: recognising an ambassador needs their consent, and none "
                "is on record; record who consented and the contract or consent form it "
                "rests on (--consent-by and --consent-basis, or the form's consent fields)")


def enroll(ws: Workspace, *, brand: str, name: str, images: Sequence[tuple[str, np.ndarray]],
           detector=None, embedder: Embedder | str | None = None,
           pre_failed: Sequence[EnrollItem] = (), consent: Consent | None = None,
           recorded_by: str = "") -> EnrollSummary:
    """Enroll (or add references to) an ambassador from named RGB images.

    Needs the ambassador's consent: a current record, or ``consent`` (recorded with the
    references, by ``recorded_by``); without it nothing is embedded or stored. The largest
    face of each image becomes one reference of the embedder's model; at most
    :data:`~analytics.identity.MAX_REFERENCES` references per ambassador and model are kept.

    Raises:
        NotFoundError: for an unknown brand.
        ConsentError: no consent on record and none given.
        IdentityError: if no image gave a face.
    """
    check_consent(ws, brand=brand, name=name, consent=consent)
    embedder = configured_embedder(embedder)
    model, dim = embedder.info.name, _dim(embedder)
    embedded, failed = embed_largest_faces(images, detector=detector, embedder=embedder)
    with ws.session() as s:
        b = get_brand(s, name=brand)
        amb = get_or_create_ambassador(s, brand=b, name=name)
        if consent is not None:
            record_consent(session=s, ambassador_id=amb.id, consent=consent,
                           recorded_by=recorded_by)
        summary = EnrollSummary(amb.id, items=list(pre_failed) + failed)
        have = q.count_references(session=s, ambassador_id=amb.id, model=model)
        for src, vec in embedded:
            if have >= MAX_REFERENCES:
                summary.items.append(EnrollItem(src, False, f"{name} already has "
                                                f"{MAX_REFERENCES} references"))
                continue
            q.add_reference(session=s, ambassador_id=amb.id, model=model,
                            vector=vector_to_bytes(vec, dim), source=src)
            summary.items.append(EnrollItem(src, True))
            summary.added += 1
            have += 1
        if summary.added == 0:
            reasons = "; ".join(f"{i.source}: {i.reason}" for i in summary.items) or "no input"
            raise IdentityError(f"no reference face enrolled for {name} ({reasons})")
        s.commit()
    return summary


def enroll_paths(ws: Workspace, *, brand: str, name: str, paths: Sequence[Path],
                 detector=None, embedder: Embedder | str | None = None,
                 consent: Consent | None = None, recorded_by: str = "") -> EnrollSummary:
    """Enroll from photo and video files (a few frames of each video); see :func:`enroll`."""
    check_consent(ws, brand=brand, name=name, consent=consent)
    images, failed = load_sources(paths)
    return enroll(ws, brand=brand, name=name, images=images, detector=detector,
                  embedder=embedder, pre_failed=failed, consent=consent,
                  recorded_by=recorded_by)


def frames_at(path: Path, timestamps: Sequence[int]) -> dict[int, np.ndarray]:
    """The decoded frame nearest each wanted timestamp (ms) of a video."""
    from analytics.video import iter_frames

    wanted = sorted(set(timestamps))
    gaps = np.diff(wanted)
    every_s = float(gaps[gaps > 0].min()) / 1000.0 if (gaps > 0).any() else 1.0
    frames = [(fr.timestamp_ms, fr.image) for fr in iter_frames(path, every_s=every_s)]
    if not frames:
        return {}
    times = np.array([t for t, _ in frames])
    return {t: frames[int(np.argmin(np.abs(times - t)))][1] for t in wanted}


def _embed_asset(ws: Workspace, faces: list[StoredFace], embedder: Embedder,
                 stored: dict[int, bytes]) -> dict[int, np.ndarray]:
    """Embeddings of one asset's faces: stored ones, the rest computed from its media."""
    from analytics.images import load_image

    dim = _dim(embedder)
    out = {f.face_id: vector_from_bytes(stored[f.face_id], dim)
           for f in faces if f.face_id in stored}
    todo = [f for f in faces if f.face_id not in out]
    if not todo:
        return out
    rel = todo[0].media_path
    if todo[0].kind is AssetKind.VIDEO:
        with ws.media.local_path(rel) as path:
            images = frames_at(path, [f.timestamp_ms for f in todo])
    else:
        images = {0: load_image(ws.media.read_bytes(rel))}
    by_ts: dict[int, list[StoredFace]] = {}
    for f in todo:
        by_ts.setdefault(f.timestamp_ms if f.kind is AssetKind.VIDEO else 0, []).append(f)
    for ts, group in by_ts.items():
        boxes = FaceDetections.from_rows([f.row for f in group]).boxes
        vecs = embedder.embed(images[ts], boxes)
        out.update({f.face_id: v for f, v in zip(group, vecs, strict=True)})
    return out


def match_faces(ws: Workspace, *, brand: str, threshold: float | None = None,
                asset_ids: Sequence[int] | None = None, embedder: Embedder | str | None = None,
                progress: Progress | None = None) -> MatchSummary:
    """Match every analyzed face of a brand to its ambassadors enrolled with the same embedder.

    Embeddings are computed once per model and stored. In videos, identity is decided per
    face track. Faces a reviewer confirmed or rejected keep the reviewer's verdict.

    Args:
        threshold: largest distance that counts as the same person for an ambassador with
            one reference (None: the embedder's calibrated rule; an uncalibrated embedder
            needs one). The embedder's rule widens it by the spread of an ambassador's
            references (:func:`analytics.identity_registry.resolve_rule`).
        embedder: the embedder or its name (None: ``BRANDMOOD_EMBEDDER``'s).

    Raises:
        NotFoundError: for an unknown brand.
        IdentityError: no threshold given for an embedder without a calibrated one.
        ValueError: for a threshold that is not positive, or an unknown embedder name.
    """
    rule = resolve_rule(_name_of(embedder), threshold)  # before loading weights
    embedder = configured_embedder(embedder)
    model, dim = embedder.info.name, _dim(embedder)
    summary = MatchSummary(threshold=rule.floor, embedder=model)
    with ws.session() as s:
        b = get_brand(s, name=brand)
        gallery = Gallery.build([(a, vector_from_bytes(v, dim)) for a, v in q.brand_references(
            session=s, brand_id=b.id, model=model)], dim=dim)
        faces = q.faces_to_match(session=s, brand_id=b.id, asset_ids=asset_ids)
        consenting = consenting_ids(session=s, brand_id=b.id)
    by_asset: dict[int, list[StoredFace]] = {}
    for f in faces:
        by_asset.setdefault(f.asset_id, []).append(f)
    report = safe_progress(progress, job="identity matching")
    for k, (asset_id, group) in enumerate(by_asset.items()):
        report(k, len(by_asset), f"asset {asset_id}")
        try:
            _match_asset(ws, group, gallery, rule, embedder, summary, consenting)
        except (OSError, ValueError, MediaStoreError) as exc:
            summary.failed.append((asset_id, str(exc) or type(exc).__name__))
    report(len(by_asset), len(by_asset), "done")
    return summary


def _match_asset(ws: Workspace, group: list[StoredFace], gallery: Gallery,
                 threshold: ThresholdRule, embedder: Embedder, summary: MatchSummary,
                 consenting: set[int]) -> None:
    model = embedder.info.name
    with ws.session() as s:
        stored = q.face_embeddings(session=s, face_ids=[f.face_id for f in group],
                                   model=model)
    vecs = _embed_asset(ws, group, embedder, stored)
    e = np.stack([vecs[f.face_id] for f in group])
    tracks = FaceDetections.from_rows([f.row for f in group]).track_ids
    matches = (match_tracks(e, tracks, gallery, threshold) if group[0].kind is AssetKind.VIDEO
               else match(e, gallery, threshold))
    with ws.session() as s:
        drop = []
        for f, m in zip(group, matches, strict=True):
            if _keeps_embedding(f, m.ambassador_id, consenting):
                if f.face_id not in stored:
                    q.store_embedding(session=s, face_id=f.face_id, model=model,
                                      vector=vector_to_bytes(vecs[f.face_id], gallery.dim))
            else:  # this or another embedder's vector of a face that is nobody's now
                drop.append(f.face_id)
            summary.n_faces += 1
            dist = None if np.isnan(m.distance) else m.distance
            if not q.set_machine_match(session=s, face_id=f.face_id,
                                       ambassador_id=m.ambassador_id, distance=dist):
                summary.n_kept_reviewed += 1
            elif m.ambassador_id is None:
                summary.n_unknown += 1
            else:
                summary.n_matched += 1
                summary.per_ambassador[m.ambassador_id] = (
                    summary.per_ambassador.get(m.ambassador_id, 0) + 1)
        q.drop_embeddings(session=s, face_ids=drop)
        s.commit()


def _keeps_embedding(face: StoredFace, matched: int | None, consenting: set[int]) -> bool:
    """Only a face of a consenting ambassador keeps its embedding: matched now (the
    gallery holds consenting ambassadors only), or confirmed by a reviewer as one."""
    if face.ambassador_confirmed is not None:
        return face.ambassador_confirmed is True and face.ambassador_id in consenting
    return matched is not None and matched in consenting
