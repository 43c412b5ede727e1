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


def test_default_rule_is_the_documented_one() -> None:
    assert (DEFAULT_RULE.min_confidence, DEFAULT_RULE.min_margin) == (0.5, 0.1)
