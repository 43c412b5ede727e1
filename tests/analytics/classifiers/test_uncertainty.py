"""The uncertainty rule: thresholds on top probability and top-2 margin, NaN-aware."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.uncertainty import DEFAULT_RULE, UncertaintyRule, top_two

NAN = np.nan


def _row(*values: float) -> list[float]:
    return list(values) + [0.0] * (8 - len(values))


def test_flags_low_confidence_and_small_margin() -> None:
    rule = UncertaintyRule(min_confidence=0.5, min_margin=0.1)
    probs = np.array([
        _row(0.9, 0.1),            # confident, wide margin
        _row(0.45, 0.05, 0.5),     # top 0.5 ok, margin 0.05 < 0.1
        _row(0.4, 0.3, 0.3),       # top 0.4 < 0.5
        _row(0.55, 0.45),          # margin exactly 0.1 -> not flagged
        _row(0.5, 0.25, 0.25),     # top exactly 0.5 -> not flagged
    ])
    probs[3] = _row(0.55, 0.44, 0.01)
    assert rule.flags(probs).tolist() == [False, True, True, False, False]


def test_nan_classes_are_ignored_and_all_nan_is_uncertain() -> None:
    rule = UncertaintyRule(0.5, 0.1)
    probs = np.array([
        [0.6, 0.3, 0.1, 0, 0, 0, 0, NAN],
        [NAN] * 8,
        [0.7, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    ])
    top1, top2 = top_two(probs)
    assert top1[0] == pytest.approx(0.6) and top2[0] == pytest.approx(0.3)
    assert np.isnan(top1[1]) and np.isnan(top2[1])
    assert top1[2] == pytest.approx(0.7) and top2[2] == 0.0
    assert rule.flags(probs).tolist() == [False, True, False]


def test_zero_thresholds_flag_only_unclassified() -> None:
    rule = UncertaintyRule(0.0, 0.0)
    probs = np.array([_row(0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125), [NAN] * 8])
    assert rule.flags(probs).tolist() == [False, True]


def test_empty_input_and_bad_arguments() -> None:
    assert DEFAULT_RULE.flags(np.zeros((0, 8))).shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        DEFAULT_RULE.flags(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="min_confidence"):
        UncertaintyRule(1.5, 0.1)
    with pytest.raises(ValueError, match="min_margin"):
        UncertaintyRule(0.5, float("nan"))


def test_default_rule_is_the_default_models_calibrated_threshold() -> None:
    from analytics.calibration_data import CALIBRATION
    from analytics.uncertainty import FALLBACK_RULE, certain_accuracy, rule_for
    from brandmood.core.settings import DEFAULT_MODEL

    assert (FALLBACK_RULE.min_confidence, FALLBACK_RULE.min_margin) == (0.5, 0.1)
    assert rule_for(DEFAULT_MODEL) == DEFAULT_RULE and DEFAULT_RULE.min_margin == 0.0
    assert DEFAULT_RULE.min_confidence == CALIBRATION[DEFAULT_MODEL]["min_confidence"]
    assert rule_for("no-such-model") == FALLBACK_RULE and certain_accuracy("nope") is None
    stated = certain_accuracy(DEFAULT_MODEL)
    assert stated is not None and set(stated.accuracy) == {"jaffe", "ckplus"}
    assert all(0 < v <= 1 for v in [*stated.accuracy.values(), *stated.uncertain_share.values()])


def test_threshold_is_the_smallest_whose_certain_faces_reach_the_target() -> None:
    from analytics.uncertainty import choose_min_confidence

    conf = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4])
    ok = np.array([1, 1, 1, 0, 1, 0, 1, 0], bool)
    # kept faces: >= 0.85 3/3; >= 0.8 3/4 = 0.75; >= 0.7 4/5 = 0.8; >= 0.6 4/6 (grid step 0.01)
    assert choose_min_confidence(conf, ok, target=0.8) == 0.61
    assert choose_min_confidence(conf, ok, target=0.9) == 0.81
    assert choose_min_confidence(conf, ok, target=0.5) == 0.3
    heavy = np.array([1, 1, 1, 1, 1, 1, 1, 50.0])  # the wrong 0.4 face weighs a lot
    assert choose_min_confidence(conf, ok, target=0.5, weights=heavy) == 0.41
    assert choose_min_confidence(conf[3:4], ok[3:4], target=0.9) == 0.95   # never reached
    with pytest.raises(ValueError, match="equal length"):
        choose_min_confidence(conf, ok[:3])
