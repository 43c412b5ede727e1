"""Calibration maps, reliability bins and the model-selection helpers, on data whose true
calibration is known because it was generated from it."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import metrics
from analytics.calibration import (
    Calibration,
    CalibrationKind,
    fit,
    nll,
    reliability,
    reliability_of,
)
from analytics.model_selection import fit_of, grouped_folds, mix, simplex_grid

RNG = np.random.default_rng(7)


def _overconfident(n: int, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z), reported as softmax(z * T): over-confident by T."""
    z = RNG.normal(size=(n, 7)) * 1.5
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([RNG.choice(7, p=row) for row in p_true])
    shown = np.exp(z * temperature)
    probs = np.full((n, 8), np.nan)
    probs[:, :7] = shown / shown.sum(1, keepdims=True)
    return probs, y


def test_temperature_is_recovered_and_improves_ece() -> None:
    probs, y = _overconfident(4000, 2.5)
    cal = fit(probs, y, "temperature")
    assert cal.kind is CalibrationKind.TEMPERATURE
    assert cal.temperature == pytest.approx(2.5, rel=0.1)
    out = cal.apply(probs)
    assert np.isnan(out[:, 7]).all()                          # contempt stays unpredicted
    np.testing.assert_allclose(out[:, :7].sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out[:, :7].argmax(1), probs[:, :7].argmax(1))
    assert reliability_of(out, y).ece < 0.03 < reliability_of(probs, y).ece
    assert nll(out, y) < nll(probs, y)


def test_vector_scaling_fixes_a_biased_class() -> None:
    probs, y = _overconfident(4000, 1.0)
    biased = probs.copy()
    biased[:, 0] *= 5.0                                       # class 0 looks 5x likelier
    biased[:, :7] /= biased[:, :7].sum(1, keepdims=True)
    vec = fit(biased, y, "vector")
    temp = fit(biased, y, "temperature")
    assert nll(vec.apply(biased), y) < nll(temp.apply(biased), y) < nll(biased, y)
    shift = vec.bias[0] - np.mean(vec.bias[1:7])              # softmax ignores a common shift
    assert -1.8 < shift < -0.9    # towards -log(5) = -1.61, held back by the pull to identity
    assert vec.scale[7] == 1.0 and vec.bias[7] == 0.0         # never seen: identity
    again = Calibration.from_dict(vec.to_dict())
    np.testing.assert_allclose(again.apply(biased), vec.apply(biased))
    assert vec.tag.startswith("vector-") and temp.tag.startswith("T")


def test_faces_without_their_class_or_any_probability_are_left_out() -> None:
    probs, y = _overconfident(300, 2.0)
    y_contempt = y.copy()
    y_contempt[:50] = 7                                       # a class the model lacks
    probs[50:60] = np.nan                                     # no face found
    a = fit(probs[60:], y[60:], "temperature").temperature
    b = fit(probs, y_contempt, "temperature").temperature
    assert a == pytest.approx(b, rel=1e-6)
    assert np.isnan(Calibration(CalibrationKind.TEMPERATURE, 2.0).apply(probs)[50:60]).all()
    with pytest.raises(ValueError, match="no face"):
        fit(probs[50:60], y[50:60], "temperature")
    with pytest.raises(ValueError, match="temperature"):
        Calibration(CalibrationKind.TEMPERATURE, 0.0)


def test_reliability_bins_agree_with_the_metrics_ece() -> None:
    conf = RNG.uniform(0, 1, 500)
    ok = RNG.uniform(0, 1, 500) < conf ** 2
    r = reliability(conf, ok)
    assert r.ece == pytest.approx(metrics.expected_calibration_error(conf, ok), abs=1e-12)
    assert r.counts.sum() == 500 and len(r.edges) == 16
    b = 14                                                    # the last bin, counted by hand
    inside = conf > 14 / 15
    assert r.counts[b] == inside.sum()
    assert r.accuracy[b] == pytest.approx(ok[inside].mean())
    assert r.to_dict()["ece"] == r.ece


def test_mix_renormalises_over_shared_classes() -> None:
    a = np.array([[0.5, 0.3, 0.2, 0, 0, 0, 0, np.nan]])
    b = np.array([[0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05]])
    out = mix([a, b], [3, 1])
    b7 = b[0, :7] / b[0, :7].sum()
    np.testing.assert_allclose(out[0, :7], 0.75 * a[0, :7] + 0.25 * b7)
    assert np.isnan(out[0, 7])
    assert fit_of(out, np.array([0])).accuracy == 1.0


def test_simplex_grid_and_grouped_folds() -> None:
    g = simplex_grid(3, 0.1)
    assert len(g) == 36 and np.allclose(g.sum(1), 1) and (g > 0).all()
    with pytest.raises(ValueError, match="step"):
        simplex_grid(2, 0.3)
    labels = np.repeat(np.arange(4), 10)
    groups = np.array([f"p{i % 8}" for i in range(40)])
    folds = grouped_folds(labels, groups, 4, seed=0)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(40))
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
    with pytest.raises(ValueError, match="groups"):
        grouped_folds(labels, groups, 9, seed=0)
