"""Classification metrics over the eight :class:`~brandmood.core.types.Emotion` labels (numpy only).

Labels are integer indices into :data:`brandmood.core.types.EMOTIONS`; a prediction of ``-1``
means "no answer" (no face found), which is always wrong. Classes absent from the truth
are left out of macro averages.
"""

from __future__ import annotations

import numpy as np

from brandmood.core.types import N_EMOTIONS

NO_PREDICTION = -1


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must be 1-d of equal length, got {t.shape}, "
                         f"{p.shape}")
    if t.size and (t.min() < 0 or t.max() >= N_EMOTIONS):
        raise ValueError("y_true holds a label outside 0..7")
    if p.size and (p.min() < NO_PREDICTION or p.max() >= N_EMOTIONS):
        raise ValueError("y_pred holds a label outside -1..7")
    return t, p


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of exact matches (``(n,)`` int labels); NaN for empty input."""
    t, p = _check(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``(8, 9)`` counts: row = true label, column = predicted label, last column = none."""
    t, p = _check(y_true, y_pred)
    cm = np.zeros((N_EMOTIONS, N_EMOTIONS + 1), np.int64)
    np.add.at(cm, (t, np.where(p < 0, N_EMOTIONS, p)), 1)
    return cm


def per_class_recall(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``(8,)`` recall per label; NaN for labels absent from ``y_true``."""
    cm = confusion_matrix(y_true, y_pred)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm[:, :N_EMOTIONS]) / support, np.nan)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean F1 over labels present in ``y_true`` (NaN for empty input)."""
    cm = confusion_matrix(y_true, y_pred)
    tp = np.diag(cm[:, :N_EMOTIONS]).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm[:, :N_EMOTIONS].sum(axis=0)
    present = support > 0
    if not present.any():
        return float("nan")
    denom = support + predicted
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1[present].mean())


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               n_bins: int = 15) -> float:
    """ECE: ``sum_b |B|/n * |acc(B) - conf(B)|`` over equal-width confidence bins.

    Args:
        confidence: ``(n,)`` top probability per item in [0, 1] (NaN → counted as 0).
        correct: ``(n,)`` bool, whether the top label was right.
        n_bins: number of bins on [0, 1]; bin b holds ``(b/n_bins, (b+1)/n_bins]``,
            the first bin also holds 0.
    """
    c = np.nan_to_num(np.asarray(confidence, dtype=np.float64), nan=0.0)
    ok = np.asarray(correct, dtype=bool)
    if c.ndim != 1 or c.shape != ok.shape:
        raise ValueError("confidence and correct must be 1-d of equal length")
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    if c.size == 0:
        return float("nan")
    bins = np.clip(np.ceil(c * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.sum() / c.size * abs(ok[mask].mean() - c[mask].mean())
    return float(total)


def uncertain_share(flags: np.ndarray) -> float:
    """Share of items flagged uncertain (``(n,)`` bool); NaN for empty input."""
    f = np.asarray(flags, dtype=bool)
    return float(f.mean()) if f.size else float("nan")
