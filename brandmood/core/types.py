"""The typed records that flow through the pipeline: detector → classifier → store.

One :class:`FaceDetections` holds every face of one image (or one video frame) as
arrays, in the spirit of supervision's ``Detections``. Stages add to it and pass it on;
nothing between stages is a string-keyed dict.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np


class Emotion(enum.StrEnum):
    """The eight emotion labels, in the fixed order of every probability array."""

    NEUTRAL = "neutral"
    HAPPY = "happy"
    SAD = "sad"
    SURPRISE = "surprise"
    FEAR = "fear"
    ANGER = "anger"
    DISGUST = "disgust"
    CONTEMPT = "contempt"

    @classmethod
    def parse(cls, value: str) -> Emotion:
        """Parse a label, accepting common synonyms (``happiness``, ``angry``…).

        Raises:
            ValueError: if the label names no emotion.
        """
        key = value.strip().lower()
        key = _SYNONYMS.get(key, key)
        try:
            return cls(key)
        except ValueError:
            raise ValueError(f"unknown emotion label {value!r}; expected one of "
                             f"{', '.join(e.value for e in cls)}") from None


_SYNONYMS = {
    "happiness": "happy", "sadness": "sad", "angry": "anger", "surprised": "surprise",
    "fearful": "fear", "disgusted": "disgust", "neutrality": "neutral",
}

EMOTIONS: tuple[Emotion, ...] = tuple(Emotion)
"""The label order of every ``(n, 8)`` probability array."""

N_EMOTIONS = len(EMOTIONS)
POSITIVE_EMOTIONS = frozenset({Emotion.HAPPY})
"""Emotions counted as positive in KPIs (surprise is ambiguous, so it is not)."""

UNCERTAIN = "uncertain"
"""Aggregates report faces flagged uncertain under this name, beside the eight labels."""


class ReviewState(enum.StrEnum):
    """Where a reviewed face stands, by the consensus rule (``k`` reviews per face; the
    rule: :mod:`db.queries.consensus`, and :func:`analytics.agreement.consensus`)."""

    PENDING = "pending"
    """Fewer reviews than the workspace asks for (k)."""
    AGREED = "agreed"
    """At least k reviews, and more than half of them give one label."""
    DISPUTED = "disputed"
    """At least k reviews, and no label has a strict majority: never trains."""

LABELS: tuple[str, ...] = (*(e.value for e in EMOTIONS), UNCERTAIN)
"""Every label a count or chart shows, in the one fixed order: the eight emotions, then
uncertain."""


def dominant_label(counts: Mapping[str, int]) -> str | None:
    """The most frequent emotion (``uncertain`` never wins); ties go to the fixed order."""
    best, best_n = None, 0
    for e in EMOTIONS:
        n = counts.get(e.value, 0)
        if n > best_n:
            best, best_n = e.value, n
    return best


def add_counts(into: dict[str, int], counts: Mapping[str, int], sign: int = 1) -> None:
    """Add (``sign=1``) or subtract (``-1``) label counts in place, dropping zeros."""
    for label, n in counts.items():
        v = into.get(label, 0) + sign * int(n)
        if v:
            into[label] = v
        else:
            into.pop(label, None)


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced a number: name, version and the sha256 of its weights."""

    name: str
    version: str
    weights_sha256: str = ""

    @property
    def label(self) -> str:
        """Short human label, e.g. ``fer-mini-xception@1.0``."""
        return f"{self.name}@{self.version}"


Box = tuple[float, float, float, float]
Landmarks = tuple[tuple[float | None, float | None], ...]


@dataclass(frozen=True)
class FaceRow:
    """One face as the store keeps it: plain numbers, None where unknown (NaN → None).

    What :meth:`FaceDetections.to_rows` gives and :meth:`FaceDetections.from_rows` takes;
    the store adds where the face is (run, asset, frame).

    Attributes:
        box: ``(x1, y1, x2, y2)`` in original pixels, ``x2 >= x1`` and ``y2 >= y1``.
        det_score: detection confidence in ``[0, 1]``.
        landmarks: five ``(x, y)`` points (None per unknown coordinate), or None where
            every coordinate is unknown.
        probs: the eight probabilities in :data:`EMOTIONS` order, each in ``[0, 1]`` or
            None (the classifier has no such class, or nothing was classified).
        dominant: the top emotion (None: not classified).
        confidence: the top probability (None: not classified).
        uncertain: the classifier's answer is too weak to count as ``dominant``.
        track_id: face track within a video (None for stills).
    """

    box: Box
    det_score: float
    landmarks: Landmarks | None
    probs: tuple[float | None, ...]
    dominant: Emotion | None
    confidence: float | None
    uncertain: bool
    track_id: int | None = None

    @property
    def label(self) -> str | None:
        """The label the face counts under: :data:`UNCERTAIN` where flagged, else the top
        emotion's value (None: not classified)."""
        if self.dominant is None:
            return None
        return UNCERTAIN if self.uncertain else self.dominant.value

    @property
    def margin(self) -> float:
        """Top minus second probability (small = uncertain; the top alone if only one)."""
        vals = sorted((p for p in self.probs if p is not None), reverse=True)
        if len(vals) < 2:
            return vals[0] if vals else 0.0
        return vals[0] - vals[1]


def _opt(value: float) -> float | None:
    return None if math.isnan(value) else value


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _as_float_array(value: np.ndarray | None, shape_tail: tuple[int, ...], n: int,
                    name: str) -> np.ndarray:
    if value is None:
        return np.full((n, *shape_tail), np.nan, dtype=np.float32)
    arr = np.asarray(value, dtype=np.float32)
    if arr.shape != (n, *shape_tail):
        raise ValueError(f"{name} must have shape {(n, *shape_tail)}, got {arr.shape}")
    return arr


@dataclass(frozen=True)
class FaceDetections:
    """All faces found in one image.

    Attributes:
        boxes: ``(n, 4)`` float32, ``x1, y1, x2, y2`` in original image pixels.
        scores: ``(n,)`` float32 detection confidence in ``[0, 1]``.
        landmarks: ``(n, 5, 2)`` float32 ``(x, y)`` of left eye, right eye, nose,
            left and right mouth corner, in original pixels (NaN where unknown).
        probs: ``(n, 8)`` float32 emotion probabilities in :data:`EMOTIONS` order;
            NaN for every class the classifier does not predict (never 0), and NaN
            everywhere before classification.
        uncertain: ``(n,)`` bool, True where the classifier's answer is too weak to
            count as a label (see :mod:`analytics.uncertainty`).
        track_ids: ``(n,)`` int64 face-track id within a video, -1 for stills.
        detector: model that found the faces.
        classifier: model that filled ``probs`` (None before classification).
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    probs: np.ndarray
    uncertain: np.ndarray
    track_ids: np.ndarray
    detector: ModelInfo | None = None
    classifier: ModelInfo | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.boxes)
        checks = {
            "boxes": (self.boxes, (n, 4)), "scores": (self.scores, (n,)),
            "landmarks": (self.landmarks, (n, 5, 2)), "probs": (self.probs, (n, N_EMOTIONS)),
            "uncertain": (self.uncertain, (n,)), "track_ids": (self.track_ids, (n,)),
        }
        for name, (arr, shape) in checks.items():
            if np.shape(arr) != shape:
                raise ValueError(f"FaceDetections.{name} must have shape {shape}, "
                                 f"got {np.shape(arr)}")

    @classmethod
    def create(cls, boxes: np.ndarray, scores: np.ndarray | None = None,
               landmarks: np.ndarray | None = None, *,
               detector: ModelInfo | None = None) -> FaceDetections:
        """Build detections from boxes, filling what is missing with NaN/defaults."""
        b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        n = len(b)
        s = np.ones(n, np.float32) if scores is None else _as_float_array(scores, (), n, "scores")
        lm = _as_float_array(landmarks, (5, 2), n, "landmarks")
        return cls(boxes=b, scores=s, landmarks=lm,
                   probs=np.full((n, N_EMOTIONS), np.nan, np.float32),
                   uncertain=np.zeros(n, bool), track_ids=np.full(n, -1, np.int64),
                   detector=detector)

    @classmethod
    def empty(cls, detector: ModelInfo | None = None) -> FaceDetections:
        """No faces."""
        return cls.create(np.zeros((0, 4), np.float32), detector=detector)

    @classmethod
    def merge(cls, parts: Sequence[FaceDetections]) -> FaceDetections:
        """Every face of several detections in one, in order (e.g. a video's frames).

        The model info is the one the parts that have it agree on.

        Raises:
            ValueError: where the parts name different detectors or classifiers.
        """
        if not parts:
            return cls.empty()
        detector = _agreed([p.detector for p in parts], "detector")
        classifier = _agreed([p.classifier for p in parts], "classifier")
        return cls(boxes=np.concatenate([p.boxes for p in parts]).astype(np.float32),
                   scores=np.concatenate([p.scores for p in parts]).astype(np.float32),
                   landmarks=np.concatenate([p.landmarks for p in parts]).astype(np.float32),
                   probs=np.concatenate([p.probs for p in parts]).astype(np.float32),
                   uncertain=np.concatenate([p.uncertain for p in parts]).astype(bool),
                   track_ids=np.concatenate([p.track_ids for p in parts]).astype(np.int64),
                   detector=detector, classifier=classifier)

    def to_rows(self) -> list[FaceRow]:
        """One :class:`FaceRow` per face, as the store keeps it.

        NaN becomes None; boxes are ordered (``x2 >= x1``, ``y2 >= y1``), scores and
        probabilities clipped to ``[0, 1]``; a track id of -1 becomes None.
        """
        dominant = self.dominant
        confidence = self.confidence
        rows = []
        for i in range(len(self)):
            x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
            lm = self.landmarks[i]
            probs = tuple(None if p is None else min(max(p, 0.0), 1.0)
                          for p in (_opt(float(v)) for v in self.probs[i]))
            conf = _opt(float(confidence[i]))
            rows.append(FaceRow(
                box=(x1, y1, max(x2, x1), max(y2, y1)),
                det_score=min(max(float(self.scores[i]), 0.0), 1.0),
                landmarks=None if bool(np.isnan(lm).all()) else
                tuple((_opt(float(x)), _opt(float(y))) for x, y in lm),
                probs=probs, dominant=dominant[i],
                confidence=None if conf is None else min(conf, 1.0),
                uncertain=bool(self.uncertain[i]),
                track_id=int(self.track_ids[i]) if self.track_ids[i] >= 0 else None))
        return rows

    @classmethod
    def from_rows(cls, rows: Sequence[FaceRow], *, detector: ModelInfo | None = None,
                  classifier: ModelInfo | None = None) -> FaceDetections:
        """Stored faces back as arrays (None → NaN, no track → -1); inverse of
        :meth:`to_rows` (``dominant`` and ``confidence`` follow from the probabilities)."""
        n = len(rows)
        lm = np.full((n, 5, 2), np.nan, np.float32)
        for i, r in enumerate(rows):
            if r.landmarks is not None:
                lm[i] = [[_nan(x), _nan(y)] for x, y in r.landmarks]
        return cls(
            boxes=np.array([r.box for r in rows], np.float32).reshape(n, 4),
            scores=np.array([r.det_score for r in rows], np.float32),
            landmarks=lm,
            probs=np.array([[_nan(p) for p in r.probs] for r in rows],
                           np.float32).reshape(n, N_EMOTIONS),
            uncertain=np.array([r.uncertain for r in rows], bool),
            track_ids=np.array([-1 if r.track_id is None else r.track_id for r in rows],
                               np.int64),
            detector=detector, classifier=classifier)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: int | slice | np.ndarray) -> FaceDetections:
        """Select faces by index, slice or boolean mask; keeps the model info."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return replace(self, boxes=self.boxes[idx], scores=self.scores[idx],
                       landmarks=self.landmarks[idx], probs=self.probs[idx],
                       uncertain=self.uncertain[idx], track_ids=self.track_ids[idx])

    def with_emotions(self, probs: np.ndarray, uncertain: np.ndarray,
                      classifier: ModelInfo) -> FaceDetections:
        """Return a copy carrying the classifier's ``(n, 8)`` probabilities."""
        n = len(self)
        p = _as_float_array(probs, (N_EMOTIONS,), n, "probs")
        u = np.asarray(uncertain, dtype=bool)
        if u.shape != (n,):
            raise ValueError(f"uncertain must have shape {(n,)}, got {u.shape}")
        return replace(self, probs=p, uncertain=u, classifier=classifier)

    def with_tracks(self, track_ids: np.ndarray) -> FaceDetections:
        """Return a copy with video track ids ``(n,)``."""
        t = np.asarray(track_ids, dtype=np.int64)
        if t.shape != (len(self),):
            raise ValueError(f"track_ids must have shape {(len(self),)}, got {t.shape}")
        return replace(self, track_ids=t)

    @property
    def dominant(self) -> list[Emotion | None]:
        """Top emotion per face (None where nothing was classified)."""
        out: list[Emotion | None] = []
        for row in self.probs:
            if np.all(np.isnan(row)):
                out.append(None)
            else:
                out.append(EMOTIONS[int(np.nanargmax(row))])
        return out

    @property
    def confidence(self) -> np.ndarray:
        """``(n,)`` top probability per face (NaN where unclassified)."""
        if len(self) == 0:
            return np.zeros(0, np.float32)
        with np.errstate(all="ignore"):
            valid = ~np.all(np.isnan(self.probs), axis=1)
            out = np.full(len(self), np.nan, np.float32)
            out[valid] = np.nanmax(self.probs[valid], axis=1)
        return out

    @property
    def areas(self) -> np.ndarray:
        """``(n,)`` box areas in square pixels."""
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]


def _agreed(infos: list[ModelInfo | None], what: str) -> ModelInfo | None:
    named = {i for i in infos if i is not None}
    if len(named) > 1:
        raise ValueError(f"cannot merge detections of different {what}s: "
                         + ", ".join(sorted(i.label for i in named)))
    return next(iter(named), None)
