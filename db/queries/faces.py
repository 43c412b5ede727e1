"""One stored face as every reader gets it (:class:`StoredFace`), the one ``SELECT`` it
comes from (:func:`stored_faces`), and the mapping between a :class:`FaceRow` and the
columns of ``face`` (both directions, here only).

Readers that need more than the face (a review label, an ambassador's name) add columns
to :func:`stored_faces` and keep them beside the :class:`StoredFace`; a caller that
needs arrays turns rows into :class:`~brandmood.core.types.FaceDetections` with
``FaceDetections.from_rows([f.row for f in faces])``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select

from brandmood.core.types import EMOTIONS, FaceRow
from db.models import Asset, AssetKind, Face, Frame

PROB_COLUMNS: tuple[str, ...] = tuple(f"p_{e.value}" for e in EMOTIONS)
"""The probability columns of ``face``, in :data:`EMOTIONS` order."""


@dataclass(frozen=True)
class StoredFace:
    """A stored face: where it is (asset, frame, media file) and what was found.

    Attributes:
        run_id: the analysis run that found it.
        timestamp_ms: the frame's time in the video (0 for stills).
        kind, media_path: the asset's kind and media file (relative to the media store).
        row: box, landmarks, probabilities, label, track of the face.
        ambassador_id: who recognition (or a reviewer) says the face is (None: nobody).
        ambassador_confirmed: a reviewer's verdict on that (None: machine match only).
        ambassador_distance: the embedding distance of the match (None: no match).
    """

    face_id: int
    asset_id: int
    run_id: int
    frame_id: int
    timestamp_ms: int
    kind: AssetKind
    media_path: str
    row: FaceRow
    ambassador_id: int | None = None
    ambassador_confirmed: bool | None = None
    ambassador_distance: float | None = None

    @classmethod
    def of(cls, face: Face, timestamp_ms: int, kind: AssetKind, media_path: str) -> StoredFace:
        """From one row of :func:`stored_faces`."""
        return cls(face.id, face.asset_id, face.run_id, face.frame_id, int(timestamp_ms),
                   kind, media_path, face_row(face), face.ambassador_id,
                   face.ambassador_confirmed, face.ambassador_distance)


def stored_faces() -> Select[Face, int, AssetKind, str]:
    """``SELECT`` of faces with their frame's time and their asset's kind and media file.

    Every reader of stored faces starts here (add ``where``, ``order_by``, columns) and
    builds each :class:`StoredFace` with :meth:`StoredFace.of` from the first four columns.
    """
    return (select(Face, Frame.timestamp_ms, Asset.kind, Asset.media_path)
            .join(Frame, Frame.id == Face.frame_id)
            .join(Asset, Asset.id == Face.asset_id))


def face_row(face: Face) -> FaceRow:
    """The :class:`FaceRow` of a ``face`` row."""
    lm = face.landmarks
    return FaceRow(
        box=(face.x1, face.y1, face.x2, face.y2), det_score=face.det_score,
        landmarks=None if lm is None else tuple((x, y) for x, y in lm),
        probs=tuple(getattr(face, c) for c in PROB_COLUMNS), dominant=face.dominant,
        confidence=face.confidence, uncertain=bool(face.uncertain), track_id=face.track_id)


def face_values(row: FaceRow) -> dict[str, object]:
    """The ``face`` column values of a :class:`FaceRow` (insert parameters, without ids)."""
    x1, y1, x2, y2 = row.box
    return {
        "x1": x1, "y1": y1, "x2": x2, "y2": y2, "det_score": row.det_score,
        "landmarks": None if row.landmarks is None else [[x, y] for x, y in row.landmarks],
        "dominant": row.dominant, "confidence": row.confidence, "uncertain": row.uncertain,
        "track_id": row.track_id, **dict(zip(PROB_COLUMNS, row.probs, strict=True)),
    }
