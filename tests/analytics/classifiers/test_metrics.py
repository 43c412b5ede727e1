"""Metrics checked with exact arithmetic on hand-made labels."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import metrics

# label indices: 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 anger, 6 disgust, 7 contempt
Y_TRUE = np.array([1, 1, 1, 2, 2, 5, 5, 5, 0, 0])
Y_PRED = np.array([1, 1, 2, 2, -1, 5, 1, 5, 0, 5])


def test_accuracy_counts_no_prediction_as_wrong() -> None:
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(6 / 10)
    assert np.isnan(metrics.accuracy([], []))


def test_confusion_matrix() -> None:
    cm = metrics.confusion_matrix(Y_TRUE, Y_PRED)
    assert cm.shape == (8, 9)
    assert cm.sum() == 10
    assert cm[1].tolist() == [0, 2, 1, 0, 0, 0, 0, 0, 0]
    assert cm[2].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 1]  # the last column: no face
    assert cm[5].tolist() == [0, 1, 0, 0, 0, 2, 0, 0, 0]
    assert cm[0].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0]


def test_per_class_recall_nan_for_absent_classes() -> None:
    r = metrics.per_class_recall(Y_TRUE, Y_PRED)
    assert r[1] == pytest.approx(2 / 3)
    assert r[2] == pytest.approx(1 / 2)
    assert r[5] == pytest.approx(2 / 3)
    assert r[0] == pytest.approx(1 / 2)
    assert np.isnan(r[[3, 4, 6, 7]]).all()


def test_macro_f1_over_present_classes() -> None:
    # happy: tp 2, support 3, predicted 3 -> 4/6; sad: tp 1, support 2, predicted 2 -> 2/4
    # anger: tp 2, support 3, predicted 3 -> 4/6; neutral: tp 1, support 2, predicted 1 -> 2/3
    expected = (4 / 6 + 2 / 4 + 4 / 6 + 2 / 3) / 4
    assert metrics.macro_f1(Y_TRUE, Y_PRED) == pytest.approx(expected)
    assert metrics.macro_f1(np.array([3, 3]), np.array([3, 3])) == 1.0


def test_expected_calibration_error_by_hand() -> None:
    conf = np.array([0.95, 0.95, 0.55, 0.55, 0.0, np.nan])
    correct = np.array([True, False, True, True, False, False])
    # bins of width 1/15: {0.95, 0.95} acc 0.5 gap 0.45; {0.55, 0.55} acc 1 gap 0.45;
    # {0, nan->0} acc 0 gap 0
    expected = 2 / 6 * 0.45 + 2 / 6 * 0.45 + 0.0
    assert metrics.expected_calibration_error(conf, correct) == pytest.approx(expected)
    # one bin holds everything: |mean acc - mean conf|
    assert metrics.expected_calibration_error(np.array([0.2, 0.6]), np.array([True, False]),
                                              n_bins=1) == pytest.approx(abs(0.5 - 0.4))


def test_uncertain_share_and_bad_input() -> None:
    assert metrics.uncertain_share(np.array([True, False, False, True])) == 0.5
    assert np.isnan(metrics.uncertain_share(np.array([], bool)))
    with pytest.raises(ValueError):
        metrics.accuracy(np.array([1, 2]), np.array([1]))
    with pytest.raises(ValueError):
        metrics.accuracy(np.array([8]), np.array([1]))
    with pytest.raises(ValueError):
        metrics.expected_calibration_error(np.array([0.5]), np.array([True]), n_bins=0)
