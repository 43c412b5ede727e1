"""The typed records that flow through the pipeline: detector → classifier → store.

One :class:`FaceDetections` holds every face of one image (or one video frame) as
arrays, in the spirit of supervision's ``Detections``. Stages add to it and pass it on;
nothing between stages is a string-keyed dict.
"""

from __future__ import annotations

import enum
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
