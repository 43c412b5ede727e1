"""The fairness check's numbers and the skin-tone backfill.

:func:`fairness_report` gives the Fairness page its numbers: counted faces per skin-tone
group (one ``GROUP BY``, :func:`db.queries.fairness.group_label_counts`), turned into
per-group shares, mean confidence, accuracy and anger false-positive rate with 95 %
intervals, and the groups whose rates differ from the rest (:mod:`analytics.fairness`).

:func:`backfill_ita` computes the angle of faces stored before the analysis computed it
(or all faces, ``everything=True``) from the stored media and the stored boxes: the same
crop and the same computation as at analysis time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from analytics import fairness as fa
from analytics.images import ImageDecodeError, load_image
from analytics.video import VideoDecodeError, iter_frames
from brandmood.core.progress import Progress, safe_progress
from brandmood.core.types import FaceDetections
from db.media_store import MediaStoreError
from db.models import AssetKind
from db.queries import fairness as fq
from db.queries.faces import StoredFace
from db.queries.selection import DashboardFilters
from db.workspace import Workspace

log = logging.getLogger(__name__)

WHAT_IT_IS = (
    "The skin-tone group is an appearance measure of each face crop, not of a person: the "
    "individual typology angle (ITA) of the cheek and forehead pixels in CIELAB, binned "
    "into six categories. Lighting, white balance, make-up and filters move it, and it is "
    "not ethnicity or identity. brandmood keeps the angle on the face row only, to check "
    "whether the emotion model treats faces of different appearance alike.")
"""What the estimate is, as the page and the docs say it."""

HOW_FLAGGED = (
    "A group is flagged when its rate of a negative emotion (anger, disgust, fear, sad, "
    "contempt) among its counted faces, or its anger false-positive rate among reviewed "
    "faces, differs from the pooled rate of the other estimated groups beyond chance: the "
    "95% interval of the difference of the two proportions (Newcombe's hybrid score "
    "interval, built from the two 95% Wilson intervals) excludes zero. Many groups and "
    "measures are compared at once, so an occasional flag on small groups can be chance: "
    "check its faces on the Review page.")
"""How a disparity is flagged, as the page and the docs say it."""

DECODE_ERRORS = (ImageDecodeError, VideoDecodeError, MediaStoreError, FileNotFoundError,
                 OSError)


@dataclass(frozen=True)
class FairnessReport:
    """The Fairness page's numbers for one selection.

    Attributes:
        groups: per skin-tone group (and ``not estimated``), in group order.
        flags: the significant differences (:func:`analytics.fairness.disparities`).
    """

    groups: list[fa.GroupStats]
    flags: list[fa.Disparity]

    @property
    def faces(self) -> int:
        return sum(g.faces for g in self.groups)

    @property
    def estimated(self) -> int:
        return sum(g.faces for g in self.groups if g.group != fa.NOT_ESTIMATED)


def fairness_report(*, session: Session, filters: DashboardFilters) -> FairnessReport:
    """Per-group numbers and flags of the selection's counted faces, on model labels."""
    rows = fq.group_label_counts(
        session=session, filters=filters,
        bounds=[(b, g.value) for b, g in fa.ITA_BOUNDS], lowest=fa.LOWEST_GROUP.value,
        not_estimated=fa.NOT_ESTIMATED)
    stats = fa.group_stats(fa.Cell(r.group, r.label, r.dominant, r.review, r.faces,
                                   r.confidence_sum, r.confidence_n) for r in rows)
    return FairnessReport(stats, fa.disparities(stats))


@dataclass
class BackfillSummary:
    """What :func:`backfill_ita` did.

    Attributes:
        assets: assets visited.
        faces: faces given an angle (or found not estimable: ``not_estimated``).
        not_estimated: faces whose crop gives no angle (grey or blue-cast; stay NULL).
        failed: ``(asset id, reason)`` of assets whose media could not be read.
    """

    assets: int = 0
    faces: int = 0
    not_estimated: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"assets": self.assets, "faces": self.faces,
                "not_estimated": self.not_estimated,
                "failed": [{"asset_id": a, "reason": r} for a, r in self.failed]}


def _image_angles(ws: Workspace, faces: Sequence[StoredFace]) -> dict[int, float]:
    image = load_image(ws.media.path(faces[0].media_path))
    dets = FaceDetections.from_rows([f.row for f in faces])
    return dict(zip((f.face_id for f in faces), fa.ita_of_faces(image, dets).tolist(),
                    strict=True))


def _video_angles(ws: Workspace, faces: Sequence[tuple[StoredFace, dict]]) -> dict[int, float]:
    """Angles of video faces: frames re-sampled as the faces' runs sampled them
    (their ``every_s``), at full size (where the stored boxes are)."""
    path = ws.media.path(faces[0][0].media_path)
    by_step: dict[float, dict[int, list[StoredFace]]] = {}
    for f, params in faces:
        step = float(params.get("every_s") or 1.0)
        by_step.setdefault(step, {}).setdefault(f.timestamp_ms, []).append(f)
    out: dict[int, float] = {}
    for step, wanted in by_step.items():
        for frame in iter_frames(path, every_s=step):
            at = wanted.pop(frame.timestamp_ms, None)
            if at:
                dets = FaceDetections.from_rows([f.row for f in at])
                out.update(zip((f.face_id for f in at),
                               fa.ita_of_faces(frame.image, dets).tolist(), strict=True))
            if not wanted:
                break
    return out


def backfill_ita(ws: Workspace, *, everything: bool = False,
                 progress: Progress | None = None) -> BackfillSummary:
    """Compute and store the skin-tone angle of stored faces that have none.

    Args:
        everything: recompute every stored face's angle.
        progress: told ``(done assets, total assets, message)``.

    Returns:
        Counts, and the assets whose media could not be read (with the reason); their
        faces keep no angle and the others go on. Faces whose crop gives no angle stay
        NULL (and are tried again by the next backfill).
    """
    report = safe_progress(progress, job="fairness backfill")
    with ws.session() as s:
        asset_ids = fq.assets_without_ita(session=s, everything=everything)
    summary = BackfillSummary()
    for n, asset_id in enumerate(asset_ids, 1):
        with ws.session() as s:
            faces = fq.faces_without_ita(session=s, asset_id=asset_id, everything=everything)
        if not faces:
            continue
        summary.assets += 1
        try:
            if faces[0][0].kind is AssetKind.VIDEO:
                angles = _video_angles(ws, faces)
            else:
                angles = _image_angles(ws, [f for f, _ in faces])
        except DECODE_ERRORS as exc:
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else \
                type(exc).__name__
            summary.failed.append((asset_id, reason))
            report(n, len(asset_ids), f"asset {asset_id}: failed")
            continue
        with ws.sessions.begin() as s:
            fq.set_ita(session=s, angles=angles)
        summary.faces += len(angles)
        summary.not_estimated += sum(1 for a in angles.values() if np.isnan(a))
        report(n, len(asset_ids), f"asset {asset_id}: {len(angles)} faces")
    return summary


__all__ = ["HOW_FLAGGED", "WHAT_IT_IS", "BackfillSummary", "FairnessReport", "backfill_ita",
           "fairness_report"]
