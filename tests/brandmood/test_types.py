"""FaceDetections as the pipeline passes it on: shape checks, merge, rows and back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from brandmood.core.types import (
    EMOTIONS,
    LABELS,
    UNCERTAIN,
    Emotion,
    FaceDetections,
    FaceRow,
    ModelInfo,
    add_counts,
    dominant_label,
)

MTCNN = ModelInfo("mtcnn", "2.5.3")
FER = ModelInfo("fer", "1.0")


def _two_faces() -> FaceDetections:
    """Two classified faces: one with a class missing (NaN), one with half-known landmarks."""
    lm = np.full((2, 5, 2), np.nan, np.float32)
    lm[1, :3] = [[30, 40], [50, 40], [40, 55]]
    det = FaceDetections.create(np.array([[10, 20, 60, 80], [25.5, 30, 90.25, 120]]),
                                np.array([0.99, 0.75]), lm, detector=MTCNN)
    probs = np.array([[0.1, 0.6, 0.1, 0.05, 0.05, 0.05, 0.05, np.nan],
                      [0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05]], np.float32)
    return det.with_emotions(probs, np.array([False, True]), FER).with_tracks(np.array([-1, 4]))


def _assert_same(a: FaceDetections, b: FaceDetections) -> None:
    for name in ("boxes", "scores", "landmarks", "probs", "uncertain", "track_ids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_shape_checks_stay():
    with pytest.raises(ValueError, match="landmarks"):
        FaceDetections.create(np.zeros((2, 4)), landmarks=np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="probs"):
        FaceDetections.create(np.zeros((1, 4))).with_emotions(np.zeros((1, 7)), [False], FER)


def test_to_rows_turns_nan_into_none_and_keeps_values():
    rows = _two_faces().to_rows()
    assert len(rows) == 2
    first, second = rows
    assert first.box == (10.0, 20.0, 60.0, 80.0)
    assert first.probs[-1] is None and first.probs[1] == pytest.approx(0.6)
    assert first.dominant is Emotion.HAPPY and first.label == "happy"
    assert first.confidence == pytest.approx(0.6) and first.track_id is None
    assert first.landmarks is None  # every coordinate unknown
    assert second.landmarks[0] == (30.0, 40.0) and second.landmarks[4] == (None, None)
    assert second.uncertain and second.label == UNCERTAIN and second.track_id == 4
    assert second.dominant is Emotion.NEUTRAL and second.det_score == pytest.approx(0.75)
    assert second.margin == pytest.approx(0.1)


def test_rows_round_trip_to_the_same_arrays():
    det = _two_faces()
    back = FaceDetections.from_rows(det.to_rows(), detector=MTCNN, classifier=FER)
    _assert_same(det, back)
    assert math.isnan(back.probs[0, 7]) and np.isnan(back.landmarks[1, 3:]).all()
    assert back.dominant == det.dominant
    assert (back.detector, back.classifier) == (det.detector, det.classifier)
    assert back.to_rows() == det.to_rows()


def test_to_rows_clips_what_the_store_would_reject():
    det = FaceDetections.create(np.array([[50, 50, 40, 60]]), np.array([1.2]))
    probs = np.array([[1.0000001, -0.0, 0, 0, 0, 0, 0, 0]], np.float32)
    [row] = det.with_emotions(probs, np.array([False]), FER).to_rows()
    assert row.box == (50.0, 50.0, 50.0, 60.0)  # x2 >= x1
    assert row.det_score == 1.0 and row.confidence == 1.0 and row.probs[0] == 1.0


def test_unclassified_and_empty_detections():
    [row] = FaceDetections.create(np.array([[0, 0, 5, 5]])).to_rows()
    assert row.dominant is None and row.confidence is None and row.label is None
    assert row.probs == (None,) * len(EMOTIONS) and row.margin == 0.0
    assert FaceDetections.empty().to_rows() == []
    empty = FaceDetections.from_rows([])
    assert len(empty) == 0 and empty.boxes.shape == (0, 4) and empty.probs.shape == (0, 8)


def test_merge_concatenates_in_order_and_keeps_the_models():
    det = _two_faces()
    one = FaceDetections.create(np.array([[1, 2, 3, 4]]), detector=MTCNN).with_tracks(
        np.array([7]))
    merged = FaceDetections.merge([det, FaceDetections.empty(detector=MTCNN), one])
    assert len(merged) == 3
    np.testing.assert_array_equal(merged.boxes[:2], det.boxes)
    np.testing.assert_array_equal(merged.track_ids, [-1, 4, 7])
    assert merged.detector == MTCNN and merged.classifier == FER
    _assert_same(merged[np.array([0, 1])], det)
    assert len(FaceDetections.merge([])) == 0
    other = FaceDetections.create(np.zeros((1, 4)), detector=ModelInfo("retina", "1"))
    with pytest.raises(ValueError, match="different detectors"):
        FaceDetections.merge([det, other])


def test_face_row_is_a_plain_record():
    row = FaceRow(box=(0, 0, 1, 1), det_score=0.5, landmarks=None,
                  probs=(0.7, 0.3, *(None,) * 6), dominant=Emotion.NEUTRAL, confidence=0.7,
                  uncertain=False)
    assert row.margin == pytest.approx(0.4) and row.label == "neutral"
    assert hash(row) == hash(FaceRow(**row.__dict__))


def test_label_count_helpers():
    assert LABELS[-1] == UNCERTAIN and LABELS[:-1] == tuple(e.value for e in EMOTIONS)
    counts = {"happy": 2, "sad": 2, UNCERTAIN: 9}
    assert dominant_label(counts) == "happy"  # uncertain never wins; ties: fixed order
    assert dominant_label({UNCERTAIN: 3}) is None
    add_counts(counts, {"sad": 2, "fear": 1}, sign=-1)
    assert counts == {"happy": 2, UNCERTAIN: 9, "fear": -1}
