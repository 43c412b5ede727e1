"""Per-track and per-video summaries of an analyzed video.

Every sampled frame stands for ``every_s`` seconds of screen time. A face's label in a
frame is its dominant emotion, or "uncertain" when flagged; the share of screen time per
emotion is the fraction of face-frames with that label, uncertain as its own share
(never forced into a label). Peak moments are the timestamp where each emotion's
probability was highest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from brandmood.core.types import EMOTIONS, N_EMOTIONS, UNCERTAIN, Emotion, FaceDetections


@dataclass(frozen=True)
class EmotionShares:
    """Share of face screen time per label.

    Attributes:
        emotions: ``(8,)`` float64 shares in :data:`EMOTIONS` order (confident labels).
        uncertain: share of face-frames flagged uncertain.
    """

    emotions: np.ndarray
    uncertain: float

    def get(self, emotion: Emotion) -> float:
        """Share of one emotion."""
        return float(self.emotions[EMOTIONS.index(emotion)])

    def to_json(self) -> dict[str, float]:
        """``{"neutral": …, …, "uncertain": …}`` for storage."""
        out = {e.value: round(float(s), 6) for e, s in zip(EMOTIONS, self.emotions, strict=True)}
        out[UNCERTAIN] = round(self.uncertain, 6)
        return out


@dataclass(frozen=True)
class PeakMoment:
    """When an emotion was strongest."""

    emotion: Emotion
    timestamp_ms: int
    probability: float
    track_id: int

    def to_json(self) -> dict[str, object]:
        return {"emotion": self.emotion.value, "timestamp_ms": self.timestamp_ms,
                "probability": round(self.probability, 6), "track_id": self.track_id}


@dataclass(frozen=True)
class TrackSummary:
    """One face track: when it was on screen, what it showed, and its peaks."""

    track_id: int
    first_ms: int
    last_ms: int
    n_frames: int
    screen_time_s: float
    shares: EmotionShares
    peaks: tuple[PeakMoment, ...]

    def to_json(self) -> dict[str, object]:
        return {"track_id": self.track_id, "first_ms": self.first_ms, "last_ms": self.last_ms,
                "n_frames": self.n_frames, "screen_time_s": round(self.screen_time_s, 3),
                "shares": self.shares.to_json(), "peaks": [p.to_json() for p in self.peaks]}


@dataclass(frozen=True)
class VideoSummary:
    """The whole video: sampled frames, frames with faces, tracks, shares and peaks."""

    every_s: float
    n_frames: int
    n_frames_with_faces: int
    n_faces: int
    shares: EmotionShares
    tracks: tuple[TrackSummary, ...]
    peaks: tuple[PeakMoment, ...]

    @property
    def face_time_share(self) -> float:
        """Fraction of sampled frames that show at least one face."""
        return self.n_frames_with_faces / self.n_frames if self.n_frames else 0.0

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form (stored on ``AssetAnalysis.summary``)."""
        return {"every_s": self.every_s, "n_frames": self.n_frames,
                "n_frames_with_faces": self.n_frames_with_faces, "n_faces": self.n_faces,
                "face_time_share": round(self.face_time_share, 6),
                "shares": self.shares.to_json(), "tracks": [t.to_json() for t in self.tracks],
                "peaks": [p.to_json() for p in self.peaks]}


def label_indices(faces: FaceDetections) -> np.ndarray:
    """``(n,)`` int: dominant emotion index, ``8`` for uncertain, ``-1`` for unclassified."""
    probs = faces.probs
    out = np.full(len(faces), -1, np.int64)
    valid = ~np.all(np.isnan(probs), axis=1) if len(faces) else np.zeros(0, bool)
    if valid.any():
        out[valid] = np.nanargmax(probs[valid], axis=1)
    out[valid & faces.uncertain] = N_EMOTIONS
    return out


def emotion_shares(labels: np.ndarray) -> EmotionShares:
    """Shares from label indices (see :func:`label_indices`); unclassified are left out."""
    counted = labels[labels >= 0]
    if counted.size == 0:
        return EmotionShares(np.zeros(N_EMOTIONS), 0.0)
    hist = np.bincount(counted, minlength=N_EMOTIONS + 1).astype(np.float64) / counted.size
    return EmotionShares(hist[:N_EMOTIONS], float(hist[N_EMOTIONS]))


def _peaks(times: np.ndarray, probs: np.ndarray, tracks: np.ndarray) -> tuple[PeakMoment, ...]:
    out = []
    for k, emotion in enumerate(EMOTIONS):
        col = probs[:, k]
        if col.size == 0 or np.all(np.isnan(col)):
            continue
        i = int(np.nanargmax(col))
        out.append(PeakMoment(emotion, int(times[i]), float(col[i]), int(tracks[i])))
    return tuple(out)


def summarize_video(frames: Sequence[tuple[int, FaceDetections]], *,
                    every_s: float) -> VideoSummary:
    """Summarize tracked, classified faces of sampled frames.

    Args:
        frames: ``(timestamp_ms, faces)`` per sampled frame, faces with track ids.
        every_s: the sampling interval (seconds of screen time per sampled frame).
    """
    times = np.concatenate([np.full(len(f), ts, np.int64) for ts, f in frames]) \
        if frames else np.zeros(0, np.int64)
    merged = FaceDetections.merge([f for _, f in frames])
    probs, tracks, labels = merged.probs, merged.track_ids, label_indices(merged)
    track_summaries = []
    for tid in np.unique(tracks):
        sel = tracks == tid
        t = times[sel]
        track_summaries.append(TrackSummary(
            track_id=int(tid), first_ms=int(t.min()), last_ms=int(t.max()), n_frames=int(sel.sum()),
            screen_time_s=float(sel.sum() * every_s), shares=emotion_shares(labels[sel]),
            peaks=_peaks(t, probs[sel], tracks[sel])))
    return VideoSummary(
        every_s=every_s, n_frames=len(frames),
        n_frames_with_faces=sum(1 for _, f in frames if len(f)), n_faces=len(times),
        shares=emotion_shares(labels), tracks=tuple(track_summaries),
        peaks=_peaks(times, probs, tracks))
