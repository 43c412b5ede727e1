"""Who is this face? 128-d dlib embeddings, enrollment and matching to brand ambassadors.

The embedder is dlib's ResNet face-recognition model (``dlib_face_recognition_resnet_model_v1``)
with its 5-point landmark model, both read from the pinned ``face-recognition-models`` archive
(the embedder registry, :mod:`analytics.identity_registry`, fetches them and passes their
paths to :class:`FaceEmbedder`). dlib aligns the face itself from the 5 landmarks it finds
inside the detector's box, so any detector's boxes (ours are MTCNN's) work.

Other embedders (the optional 512-d facenet one) offer the same :class:`Embedder` interface;
the functions here work for any embedding length, and refuse to compare vectors of different
lengths. :mod:`analytics.identity_registry` names the embedders and their thresholds.

Two faces are the same person when the Euclidean distance of their embeddings is under a
threshold. A face is matched to the ambassador whose mean reference embedding is closest, if
that distance is under that ambassador's threshold; otherwise it is ``unknown``
(``ambassador_id is None``). The threshold is one number for everybody, or a
:class:`ThresholdRule`: each ambassador's own threshold from the spread of their references
(an ambassador photographed in varied light and years gets a wider one, within bounds).
:data:`DEFAULT_RULE` was chosen by cross-validation over face sources
(``benchmarks/identity.py``; the numbers are in ``docs/identity_and_adaptation.md``).
In video, identity is decided per face track: the track's mean embedding is matched once
and every face of the track gets that answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import dlib
import numpy as np

from brandmood.core.types import FaceDetections, ModelInfo

EMBEDDING_MODEL = "dlib-resnet-v1"
EMBEDDING_DIM = 128
DEFAULT_THRESHOLD = 0.35
"""The dlib embedder's threshold for one reference, and the least any ambassador gets
(:data:`DEFAULT_RULE`'s floor; see ``docs/identity_and_adaptation.md``)."""
MAX_REFERENCES = 20


class IdentityError(ValueError):
    """An input cannot be used for identity (no face, bad shape); the message says why."""


@dataclass(frozen=True)
class Match:
    """The answer for one face.

    Attributes:
        ambassador_id: the matched ambassador, or None (unknown).
        distance: distance to the mean reference of the nearest ambassador
            (NaN where nobody is enrolled).
        nearest_id: that nearest ambassador, even when too far to count as a match.
        threshold: the nearest ambassador's threshold (NaN where nobody is enrolled).
    """

    ambassador_id: int | None
    distance: float
    nearest_id: int | None
    threshold: float = float("nan")


@dataclass(frozen=True)
class Gallery:
    """Enrolled reference embeddings.

    Attributes:
        ids: ``(m,)`` int64 ambassador id of each reference.
        vectors: ``(m, d)`` float32 reference embeddings (d = 128 for dlib, 512 for facenet).
    """

    ids: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[1] < 1:
            raise ValueError(f"vectors must be (m, d), got {self.vectors.shape}")
        if self.ids.shape != (len(self.vectors),):
            raise ValueError(f"ids must be ({len(self.vectors)},), got {self.ids.shape}")

    @classmethod
    def build(cls, refs: Sequence[tuple[int, np.ndarray]], *,
              dim: int = EMBEDDING_DIM) -> Gallery:
        """From ``(ambassador_id, (dim,) vector)`` pairs.

        Raises:
            ValueError: for a vector of another length.
        """
        vecs = np.zeros((len(refs), dim), np.float32)
        for k, (_, v) in enumerate(refs):
            vecs[k] = as_rows(v, dim)[0]
        return cls(np.array([r[0] for r in refs], np.int64).reshape(-1), vecs)

    @property
    def dim(self) -> int:
        """Length of the reference embeddings."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)


def as_rows(embeddings: np.ndarray, dim: int) -> np.ndarray:
    """``(n, dim)`` float32 from ``(n, dim)`` or one ``(dim,)`` embedding.

    Raises:
        ValueError: for embeddings of another length (from another embedder?).
    """
    e = np.asarray(embeddings, np.float32)
    if e.ndim == 1:
        e = e[None]
    if e.ndim != 2 or e.shape[1] != dim:
        raise ValueError(f"embeddings must be (n, {dim}), got {e.shape}: "
                         "vectors of different embedders cannot be compared")
    return e


def vector_to_bytes(vector: np.ndarray, dim: int = EMBEDDING_DIM) -> bytes:
    """``(dim,)`` float → little-endian float32 bytes (the store's format)."""
    v = np.asarray(vector, dtype="<f4").reshape(-1)
    if v.shape != (dim,):
        raise ValueError(f"embedding must have {dim} values, got {v.size}")
    return v.tobytes()


def vector_from_bytes(data: bytes, dim: int = EMBEDDING_DIM) -> np.ndarray:
    """Inverse of :func:`vector_to_bytes`: ``(dim,)`` float32."""
    v = np.frombuffer(data, dtype="<f4")
    if v.shape != (dim,):
        raise ValueError(f"stored embedding has {v.size} values, expected {dim}")
    return v.astype(np.float32)


@runtime_checkable
class Embedder(Protocol):
    """What enrollment and matching ask of a face embedder.

    :class:`FaceEmbedder` (dlib, 128-d, the default) and the optional
    :class:`analytics.identity_facenet.FacenetEmbedder` (512-d) both offer it.
    """

    info: ModelInfo

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB image and ``(n, 4)`` boxes → ``(n, d)`` float32."""
        ...

    def embed_detections(self, image: np.ndarray, faces: FaceDetections) -> np.ndarray:
        """``(n, d)`` embeddings of every detected face of one image."""
        ...


class FaceEmbedder:
    """dlib's 128-d ResNet face embedding of faces given by detector boxes.

    Args:
        shape_predictor: ``shape_predictor_5_face_landmarks.dat``.
        recognition_model: ``dlib_face_recognition_resnet_model_v1.dat``.
        version: the version recorded with every vector (the models' package version).
        weights_sha256: the sha256 recorded with every vector (the pinned archive's).
    """

    def __init__(self, shape_predictor: Path, recognition_model: Path, *, version: str,
                 weights_sha256: str) -> None:
        self._shape = dlib.shape_predictor(str(shape_predictor))
        self._net = dlib.face_recognition_model_v1(str(recognition_model))
        self.info = ModelInfo(EMBEDDING_MODEL, version, weights_sha256)

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Embed the faces in one image.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            boxes: ``(n, 4)`` ``x1, y1, x2, y2`` face boxes in image pixels.

        Returns:
            ``(n, 128)`` float32 embeddings.

        Raises:
            IdentityError: for an image or boxes of the wrong shape.
        """
        img = np.ascontiguousarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise IdentityError(f"image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(b) == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        h, w = img.shape[:2]
        shapes = dlib.full_object_detections()
        lo = np.zeros(4)
        hi = np.array([w - 1, h - 1, w - 1, h - 1], np.float64)
        for x1, y1, x2, y2 in np.rint(np.clip(b, lo, hi)).astype(int).tolist():
            shapes.append(self._shape(img, dlib.rectangle(x1, y1, x2, y2)))
        vecs = self._net.compute_face_descriptor(img, shapes)
        return np.array([np.array(v) for v in vecs], np.float32).reshape(-1, EMBEDDING_DIM)

    def embed_detections(self, image: np.ndarray, faces: FaceDetections) -> np.ndarray:
        """``(n, 128)`` embeddings of every detected face of one image."""
        return self.embed(image, faces.boxes)


def largest_face(faces: FaceDetections) -> int:
    """Index of the largest face.

    Raises:
        IdentityError: if there is no face.
    """
    if len(faces) == 0:
        raise IdentityError("no face found")
    return int(np.argmax(faces.areas))


def distances(embeddings: np.ndarray, gallery: Gallery) -> np.ndarray:
    """``(n, d)`` embeddings → ``(n, m)`` Euclidean distances to every reference.

    Raises:
        ValueError: if ``d`` is not the gallery's length (embeddings of another model).
    """
    e = as_rows(embeddings, gallery.dim)
    if len(gallery) == 0:
        return np.zeros((len(e), 0), np.float32)
    diff = e[:, None, :] - gallery.vectors[None, :, :]
    return np.sqrt(np.sum(diff * diff, axis=2))


def centroids(gallery: Gallery) -> tuple[np.ndarray, np.ndarray]:
    """``(ids (k,), (k, d) mean reference)`` per ambassador, ids ascending."""
    ids = np.unique(gallery.ids)
    return ids, np.stack([gallery.vectors[gallery.ids == i].mean(axis=0) for i in ids]) if len(
        ids) else np.zeros((0, gallery.dim), np.float32)


def reference_spread(vectors: np.ndarray) -> float:
    """How far one ambassador's references lie from each other: the largest distance from a
    reference to the mean of the others (NaN for fewer than two references).

    Args:
        vectors: ``(m, d)`` references of one person.

    Returns:
        The spread (for two references, their distance).
    """
    v = np.asarray(vectors, np.float64)
    m = len(v)
    if m < 2:
        return float("nan")
    others = (v.sum(axis=0)[None] - v) / (m - 1)
    return float(np.linalg.norm(v - others, axis=1).max())


@dataclass(frozen=True)
class ThresholdRule:
    """Each ambassador's distance threshold from the spread of their own references.

    ``threshold = min(ceiling, max(floor, scale × spread))`` for an ambassador with two or
    more references (:func:`reference_spread`), ``floor`` for one with a single reference.
    A face as far from the mean as the references are from each other is still that person;
    the ceiling bounds the false matches of a gallery of very different photos.
    ``ThresholdRule(t)`` (scale 0) is one threshold ``t`` for everybody.

    Attributes:
        floor: threshold with one reference, and the least any ambassador gets.
        scale: multiplier of the spread (0: no per-ambassador widening).
        ceiling: the most any ambassador gets (None: ``floor``).

    Raises:
        ValueError: for a floor that is not positive, a negative scale, or a ceiling under
            the floor.
    """

    floor: float
    scale: float = 0.0
    ceiling: float | None = None

    def __post_init__(self) -> None:
        if not self.floor > 0 or not self.scale >= 0 or (
                self.ceiling is not None and not self.ceiling >= self.floor):
            raise ValueError(f"threshold rule needs floor > 0, scale >= 0 and ceiling >= floor "
                             f"(got {self.floor}, {self.scale}, {self.ceiling})")

    @property
    def top(self) -> float:
        """The largest threshold the rule can give."""
        return self.floor if self.ceiling is None or self.scale == 0 else self.ceiling

    def at(self, floor: float) -> ThresholdRule:
        """The same rule with another floor (the ceiling raised to it where lower)."""
        ceiling = None if self.ceiling is None else max(self.ceiling, floor)
        return ThresholdRule(floor, self.scale, ceiling)

    def threshold(self, spread: float) -> float:
        """The threshold of an ambassador whose references have this spread (NaN: one)."""
        if self.scale == 0 or np.isnan(spread):
            return float(self.floor)
        return float(min(self.top, max(self.floor, self.scale * spread)))

    def for_gallery(self, gallery: Gallery) -> tuple[np.ndarray, np.ndarray]:
        """``(ids (k,), thresholds (k,))`` per ambassador, ids ascending."""
        ids = np.unique(gallery.ids)
        return ids, np.array([self.threshold(reference_spread(gallery.vectors[gallery.ids == i]))
                              for i in ids], np.float64)


def as_rule(threshold: float | ThresholdRule) -> ThresholdRule:
    """A rule from a rule or from one threshold for everybody.

    Raises:
        ValueError: for a threshold that is not positive.
    """
    if isinstance(threshold, ThresholdRule):
        return threshold
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    return ThresholdRule(float(threshold))


DEFAULT_RULE = ThresholdRule(DEFAULT_THRESHOLD, 1.0, 0.41)
"""dlib's calibrated rule (``benchmarks/identity.py``; ``docs/identity_and_adaptation.md``)."""


def match(embeddings: np.ndarray, gallery: Gallery,
          threshold: float | ThresholdRule = DEFAULT_RULE) -> list[Match]:
    """Match each face to the nearest ambassador, if close enough for that ambassador.

    An ambassador's distance is the distance to the mean of their references (more robust
    than the nearest single reference: a gallery of many photos does not attract strangers).
    The nearest ambassador is the only candidate: a face nearer to someone else than to the
    ambassador whose threshold it would pass stays unknown.

    Args:
        embeddings: ``(n, d)`` face embeddings, of the model that made the gallery.
        gallery: enrolled ``(m, d)`` references (possibly empty: every face is unknown).
        threshold: one threshold for everybody, or a :class:`ThresholdRule`; distances
            strictly under an ambassador's threshold count as that person.

    Returns:
        One :class:`Match` per face.

    Raises:
        ValueError: for a threshold that is not positive, or embeddings of another length
            than the gallery's.
    """
    rule = as_rule(threshold)
    ids, cents = centroids(gallery)
    limits = rule.for_gallery(gallery)[1]
    d = distances(embeddings, Gallery(ids.astype(np.int64), cents.astype(np.float32)))
    out: list[Match] = []
    for row in d:
        if row.size == 0:
            out.append(Match(None, float("nan"), None))
            continue
        j = int(np.argmin(row))
        dist, nearest, limit = float(row[j]), int(ids[j]), float(limits[j])
        out.append(Match(nearest if dist < limit else None, dist, nearest, limit))
    return out


def match_tracks(embeddings: np.ndarray, track_ids: np.ndarray, gallery: Gallery,
                 threshold: float | ThresholdRule = DEFAULT_RULE) -> list[Match]:
    """Decide identity per face track: one answer for every face of a track.

    Each track's mean embedding is matched; faces with track id ``-1`` (stills, or faces
    outside any track) are matched on their own.

    Args:
        embeddings: ``(n, d)`` face embeddings.
        track_ids: ``(n,)`` int track id of each face.
        gallery: enrolled references.
        threshold: one threshold for everybody, or a :class:`ThresholdRule`.

    Returns:
        One :class:`Match` per face, equal within a track.
    """
    e = as_rows(embeddings, gallery.dim)
    t = np.asarray(track_ids, np.int64).reshape(-1)
    if t.shape != (len(e),):
        raise ValueError(f"track_ids must be ({len(e)},), got {t.shape}")
    out: list[Match | None] = [None] * len(e)
    singles = np.flatnonzero(t < 0)
    for i, m in zip(singles, match(e[singles], gallery, threshold), strict=True):
        out[i] = m
    tracks = sorted(set(t[t >= 0].tolist()))
    if tracks:
        means = np.stack([e[t == k].mean(axis=0) for k in tracks])
        for k, m in zip(tracks, match(means, gallery, threshold), strict=True):
            for i in np.flatnonzero(t == k):
                out[i] = m
    return [m for m in out if m is not None]


def reference_vectors(embeddings: np.ndarray, dim: int = EMBEDDING_DIM) -> np.ndarray:
    """Check enrollment embeddings: ``(k, dim)`` with 1 ≤ k ≤ :data:`MAX_REFERENCES`.

    Raises:
        IdentityError: for none or too many references.
        ValueError: for embeddings of another length.
    """
    e = as_rows(embeddings, dim) if np.size(embeddings) else np.zeros((0, dim), np.float32)
    if not 1 <= len(e) <= MAX_REFERENCES:
        raise IdentityError(f"enroll 1 to {MAX_REFERENCES} reference faces, got {len(e)}")
    return e


def calibrate_threshold(same: np.ndarray, different: np.ndarray) -> float:
    """The threshold with the fewest errors between genuine and impostor distances.

    Ties go to the smaller threshold (fewer false matches). Candidates are midpoints
    between consecutive sorted distances.

    Args:
        same: ``(a,)`` distances between faces of the same person.
        different: ``(b,)`` distances between faces of different people.

    Returns:
        The chosen threshold.

    Raises:
        ValueError: if either array is empty.
    """
    s = np.sort(np.asarray(same, np.float64))
    d = np.sort(np.asarray(different, np.float64))
    if s.size == 0 or d.size == 0:
        raise ValueError("calibration needs distances of both same and different people")
    allv = np.unique(np.concatenate([s, d]))
    cands = np.concatenate([[allv[0] - 1e-6], (allv[:-1] + allv[1:]) / 2, [allv[-1] + 1e-6]])
    miss = 1.0 - np.searchsorted(s, cands, side="left") / s.size  # same, not under
    false = np.searchsorted(d, cands, side="left") / d.size  # different, under
    return float(cands[int(np.argmin(miss + false))])
