"""Choosing models, ensemble weights, crop margins and thresholds by cross-validation over people.

A choice tuned on the same faces it is scored on looks better than it will be on new
people. Everything here is meant to run *inside* the training part of a fold whose groups
are people (no person on both sides), so the held-out scores are what unseen people get.

Arrays: probabilities ``(n, 8)`` in :data:`brandmood.core.types.EMOTIONS` order (NaN where
a model has no such class, NaN rows where no face was found); labels ``(n,)`` EMOTIONS
indices; groups ``(n,)`` person ids.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from brandmood.core.types import N_EMOTIONS


def grouped_folds(labels: np.ndarray, groups: np.ndarray, n_folds: int,
                  seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_folds`` ``(train, test)`` index pairs, no group on both sides, labels stratified
    as far as the groups allow (leave-one-group-out where there are ``n_folds`` groups).

    Raises:
        ValueError: fewer groups than folds, or fewer than two folds.
    """
    import warnings

    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    g = np.asarray(groups)
    y = np.asarray(labels)
    if n_folds < 2 or len(set(g.tolist())) < n_folds:
        raise ValueError(f"{n_folds} folds need at least {max(n_folds, 2)} groups, got "
                         f"{len(set(g.tolist()))}")
    if np.unique(y, return_counts=True)[1].max() < n_folds:  # nothing to stratify
        cv = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    else:
        cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "the least populated class has only k members"
        warnings.simplefilter("ignore", UserWarning)
        return [(np.sort(tr), np.sort(te)) for tr, te in cv.split(np.zeros(len(g)), y, g)]


def simplex_grid(k: int, step: float) -> np.ndarray:
    """Every ``(k,)`` weight vector on the simplex with entries multiple of ``step``, each
    member weighted > 0: ``(m, k)`` float64 rows summing to 1.

    Raises:
        ValueError: ``step`` not a fraction 1/N.
    """
    n = round(1.0 / step)
    if k < 1 or n < k or abs(n * step - 1.0) > 1e-9:
        raise ValueError(f"step must be 1/N with N >= k, got {step} for k={k}")
    rows = [c for c in itertools.product(range(1, n + 1), repeat=k) if sum(c) == n]
    return np.array(rows, np.float64) / n


def mix(member_probs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted mean of members' ``(n, 8)`` probabilities over the classes every member
    predicts, each member renormalised over those first (as
    :class:`analytics.classifiers.ensemble.EnsembleClassifier` does); other classes NaN."""
    probs = [np.asarray(p, np.float64) for p in member_probs]
    w = np.asarray(weights, np.float64)
    w = w / w.sum()
    n = len(probs[0])
    shared = np.all([~np.isnan(p).all(axis=0) for p in probs], axis=0)
    total = np.zeros((n, int(shared.sum())))
    for wi, p in zip(w, probs, strict=True):
        part = p[:, shared]
        sums = part.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            total += wi * part / sums
    out = np.full((n, N_EMOTIONS), np.nan)
    out[:, shared] = total
    return out


@dataclass(frozen=True)
class Fit:
    """How well probabilities fit labels: accuracy and mean negative log-likelihood (over
    faces with probabilities; a face without any counts as wrong for accuracy)."""

    accuracy: float
    nll: float

    def key(self) -> tuple[float, float]:
        """Sort key, best first: higher accuracy, then lower NLL."""
        return (-round(self.accuracy, 9), self.nll)


def fit_of(probs: np.ndarray, labels: np.ndarray) -> Fit:
    """:class:`Fit` of ``(n, 8)`` probabilities on ``(n,)`` labels."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, np.int64)
    valid = ~np.all(np.isnan(p), axis=1)
    pred = np.full(len(p), -1)
    pred[valid] = np.nanargmax(p[valid], axis=1)
    picked = np.nan_to_num(p[valid, y[valid]], nan=0.0)
    nll = float(-np.log(np.clip(picked, 1e-7, 1.0)).mean()) if valid.any() else float("inf")
    return Fit(float(np.mean(pred == y)) if len(y) else float("nan"), nll)


def mean_fit(fits: Sequence[Fit]) -> Fit:
    """The unweighted mean over sets (each set counts the same, whatever its size)."""
    return Fit(float(np.mean([f.accuracy for f in fits])), float(np.mean([f.nll for f in fits])))


__all__ = ["Fit", "fit_of", "grouped_folds", "mean_fit", "mix", "simplex_grid"]
