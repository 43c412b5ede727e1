"""Link faces across sampled video frames into tracks.

A face in a new frame continues a live track when their boxes overlap enough (IoU) or,
failing that, when their landmarks are close relative to the face size and the sizes
agree (faces move a lot between frames sampled a second apart). Assignment is optimal
(Hungarian) over the allowed pairs, preferring IoU matches. A face that matches no
track starts a new one; a track that has not been seen for ``max_gap_ms`` ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from brandmood.core.types import FaceDetections

DEFAULT_IOU_THRESHOLD = 0.3
DEFAULT_LANDMARK_THRESHOLD = 0.75
DEFAULT_MAX_GAP_MS = 2500


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    Args:
        a: ``(n, 4)`` boxes ``x1, y1, x2, y2``.
        b: ``(m, 4)`` boxes.

    Returns:
        ``(n, m)`` float64 IoU in ``[0, 1]``.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def landmark_distance(a: FaceDetections, b: FaceDetections) -> np.ndarray:
    """Mean landmark distance of every pair, in units of the first face's size.

    Falls back to box centers where landmarks are unknown.

    Returns:
        ``(len(a), len(b))`` float64 distances.
    """
    pa = np.where(np.isnan(a.landmarks), _centers(a.boxes)[:, None, :], a.landmarks)
    pb = np.where(np.isnan(b.landmarks), _centers(b.boxes)[:, None, :], b.landmarks)
    d = np.linalg.norm(pa[:, None].astype(np.float64) - pb[None].astype(np.float64), axis=3)
    size = np.sqrt(np.clip(a.areas.astype(np.float64), 1.0, None))
    return d.mean(axis=2) / size[:, None]


def _centers(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2.0


@dataclass
class _Track:
    track_id: int
    last: FaceDetections  # the face as last seen (one row)
    last_ms: int


class FaceTracker:
    """Assigns track ids frame by frame (call :meth:`update` in time order).

    Args:
        iou_threshold: least IoU for a direct match.
        landmark_threshold: most mean landmark distance (in face sizes) for a fallback
            match of faces whose areas differ by at most 2×.
        max_gap_ms: a track unseen for longer than this ends.

    Raises:
        ValueError: for out-of-range parameters.
    """

    def __init__(self, *, iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                 landmark_threshold: float = DEFAULT_LANDMARK_THRESHOLD,
                 max_gap_ms: int = DEFAULT_MAX_GAP_MS) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if landmark_threshold < 0:
            raise ValueError(f"landmark_threshold must be >= 0, got {landmark_threshold}")
        if max_gap_ms < 0:
            raise ValueError(f"max_gap_ms must be >= 0, got {max_gap_ms}")
        self.iou_threshold = iou_threshold
        self.landmark_threshold = landmark_threshold
        self.max_gap_ms = max_gap_ms
        self._live: list[_Track] = []
        self._next_id = 0
        self._last_ms: int | None = None

    def update(self, timestamp_ms: int, faces: FaceDetections) -> FaceDetections:
        """Give the faces of the next frame their track ids.

        Raises:
            ValueError: if frames do not arrive in time order.
        """
        if self._last_ms is not None and timestamp_ms < self._last_ms:
            raise ValueError(f"frames must come in time order: {timestamp_ms} ms after "
                             f"{self._last_ms} ms")
        self._last_ms = timestamp_ms
        self._live = [t for t in self._live if timestamp_ms - t.last_ms <= self.max_gap_ms]
        ids = np.full(len(faces), -1, np.int64)
        for ti, fi in self._match(faces):
            track = self._live[ti]
            ids[fi] = track.track_id
            track.last, track.last_ms = faces[fi], timestamp_ms
        for fi in np.flatnonzero(ids < 0):
            ids[fi] = self._next_id
            self._live.append(_Track(self._next_id, faces[int(fi)], timestamp_ms))
            self._next_id += 1
        return faces.with_tracks(ids)

    def _match(self, faces: FaceDetections) -> list[tuple[int, int]]:
        if not self._live or len(faces) == 0:
            return []
        prev = FaceDetections.merge([t.last for t in self._live])
        iou = iou_matrix(prev.boxes, faces.boxes)
        dist = landmark_distance(prev, faces)
        ratio = prev.areas[:, None] / np.clip(faces.areas[None, :], 1e-6, None)
        near = (dist <= self.landmark_threshold) & (ratio <= 2.0) & (ratio >= 0.5)
        ok = (iou >= self.iou_threshold) | near
        # IoU matches score 1 + IoU; fallback matches score in (0, 1] by closeness.
        fallback = 1.0 - dist / max(self.landmark_threshold, 1e-9)
        score = np.where(iou >= self.iou_threshold, 1.0 + iou, np.clip(fallback, 1e-3, 1.0))
        cost = np.where(ok, -score, 1e6)
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ok[r, c]]


def link_tracks(frames: Iterable[tuple[int, FaceDetections]], **kwargs) -> list[FaceDetections]:
    """Assign track ids to the faces of frames given in time order.

    Args:
        frames: ``(timestamp_ms, faces)`` pairs.
        **kwargs: :class:`FaceTracker` parameters.

    Returns:
        The faces of each frame with ``track_ids`` set.
    """
    tracker = FaceTracker(**kwargs)
    return [tracker.update(ts, faces) for ts, faces in frames]
