"""Face tracks across frames and per-track / per-video summaries (exact arithmetic)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.tracks import FaceTracker, iou_matrix, landmark_distance, link_tracks
from analytics.video_summary import emotion_shares, label_indices, summarize_video
from brandmood.core.types import EMOTIONS, Emotion, FaceDetections


def _faces(*boxes: tuple[float, float, float, float]) -> FaceDetections:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    lm = np.stack([np.stack([b[:, 0] + (b[:, 2] - b[:, 0]) * fx,
                             b[:, 1] + (b[:, 3] - b[:, 1]) * fy], axis=1)
                   for fx, fy in ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8))],
                  axis=1)
    return FaceDetections.create(b, landmarks=lm)


def test_iou_matrix_exact():
    a = np.array([[0, 0, 10, 10], [0, 0, 2, 2]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    iou = iou_matrix(a, b)
    np.testing.assert_allclose(iou[0], [50 / 150, 0.0, 1.0])
    np.testing.assert_allclose(iou[1], [0.0, 0.0, 4 / 100])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_landmark_distance_in_face_sizes():
    a = _faces((0, 0, 100, 100))
    b = _faces((50, 0, 150, 100), (0, 0, 100, 100))
    np.testing.assert_allclose(landmark_distance(a, b), [[0.5, 0.0]])


def test_two_faces_keep_their_ids_and_a_gap_ends_a_track():
    frames = [
        (0, _faces((0, 0, 100, 100), (300, 0, 400, 100))),
        (1000, _faces((310, 5, 410, 105), (20, 0, 120, 100))),  # order swapped, slight moves
        (2000, _faces((40, 0, 140, 100))),  # the right face left the picture
        (3000, _faces((95, 0, 195, 100))),  # no overlap with the last box: landmark fallback
        (9000, _faces((95, 0, 195, 100))),  # back after a long gap: a new track
    ]
    ids = [f.track_ids.tolist() for f in link_tracks(frames, max_gap_ms=2500)]
    assert ids == [[0, 1], [1, 0], [0], [0], [2]]


def test_unmatched_faces_start_new_tracks_and_order_is_enforced():
    tracker = FaceTracker(landmark_threshold=0.2)
    assert tracker.update(0, _faces((0, 0, 100, 100))).track_ids.tolist() == [0]
    # far away and much bigger: not the same face
    out = tracker.update(500, _faces((400, 400, 700, 700)))
    assert out.track_ids.tolist() == [1]
    assert len(tracker.update(600, FaceDetections.empty())) == 0
    with pytest.raises(ValueError, match="time order"):
        tracker.update(100, _faces((0, 0, 10, 10)))
    with pytest.raises(ValueError):
        FaceTracker(iou_threshold=0)


def _classified(faces: FaceDetections, rows: list[list[float]],
                uncertain: list[bool]) -> FaceDetections:
    probs = np.array(rows, np.float32)
    return faces.with_emotions(probs, np.array(uncertain), classifier=None)


def _row(**p: float) -> list[float]:
    return [p.get(e.value, 0.0) for e in EMOTIONS]


def test_video_summary_shares_and_peaks():
    happy, sad = _row(happy=0.8, neutral=0.2), _row(sad=0.6, neutral=0.4)
    weak = _row(happy=0.35, neutral=0.33, sad=0.32)
    f0 = _classified(_faces((0, 0, 10, 10), (50, 0, 60, 10)), [happy, sad], [False, False])
    f1 = _classified(_faces((0, 0, 10, 10)), [_row(happy=0.9, neutral=0.1)], [False])
    f2 = _classified(_faces((0, 0, 10, 10)), [weak], [True])
    frames = [(0, f0.with_tracks(np.array([0, 1]))), (1000, f1.with_tracks(np.array([0]))),
              (2000, f2.with_tracks(np.array([0]))), (3000, FaceDetections.empty())]
    s = summarize_video(frames, every_s=1.0)
    assert (s.n_frames, s.n_frames_with_faces, s.n_faces) == (4, 3, 4)
    assert s.face_time_share == 0.75
    assert s.shares.get(Emotion.HAPPY) == 0.5 and s.shares.get(Emotion.SAD) == 0.25
    assert s.shares.uncertain == 0.25
    t0, t1 = s.tracks
    assert (t0.track_id, t0.first_ms, t0.last_ms, t0.n_frames) == (0, 0, 2000, 3)
    assert t0.screen_time_s == 3.0
    assert t0.shares.get(Emotion.HAPPY) == pytest.approx(2 / 3)
    assert t0.shares.uncertain == pytest.approx(1 / 3)
    peak = {p.emotion: p for p in t0.peaks}
    assert peak[Emotion.HAPPY].timestamp_ms == 1000
    assert peak[Emotion.HAPPY].probability == pytest.approx(0.9)
    assert peak[Emotion.SAD].timestamp_ms == 2000
    assert t1.shares.get(Emotion.SAD) == 1.0 and t1.screen_time_s == 1.0
    video_peaks = {p.emotion: p for p in s.peaks}
    assert (video_peaks[Emotion.SAD].track_id, video_peaks[Emotion.SAD].timestamp_ms) == (1, 0)
    js = s.to_json()
    assert js["shares"]["uncertain"] == 0.25 and len(js["tracks"]) == 2


def test_nan_classes_and_unclassified_faces():
    probs = np.array([[np.nan] * 8, _row(fear=0.7, anger=0.3)], np.float32)
    probs[1, 7] = np.nan  # a model without contempt
    faces = _faces((0, 0, 1, 1), (0, 0, 1, 1)).with_emotions(probs, np.array([False, False]),
                                                             classifier=None)
    labels = label_indices(faces)
    assert labels.tolist() == [-1, EMOTIONS.index(Emotion.FEAR)]
    shares = emotion_shares(labels)
    assert shares.get(Emotion.FEAR) == 1.0 and shares.uncertain == 0.0
    empty = summarize_video([], every_s=1.0)
    assert empty.n_faces == 0 and empty.face_time_share == 0.0 and empty.peaks == ()
