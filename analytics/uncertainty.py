"""When a classifier's answer is too weak to count as a label.

A face is *uncertain* when its top probability is under ``min_confidence`` or the gap
between its top two probabilities is under ``min_margin``. NaN entries (classes the model
does not predict) are ignored; a face with no finite probability at all is uncertain.
Aggregates report uncertain faces as their own share instead of forcing a label.

**The rule of a calibrated model** (every registered model with shipped calibration,
:mod:`analytics.calibration_data`) is one threshold on its *calibrated* top probability,
chosen (:func:`choose_min_confidence`) so that the faces it marks certain reach
:data:`TARGET_CERTAIN_ACCURACY`; the cross-validated accuracy of the certain faces on unseen
people and the uncertain share come with it (:func:`rule_for`, :func:`certain_accuracy`).
A model without calibration keeps :data:`FALLBACK_RULE` (0.5 / 0.1, the earlier default).
docs/models.md gives the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analytics.calibration_data import CALIBRATION
from brandmood.core.settings import DEFAULT_MODEL
from brandmood.core.types import N_EMOTIONS

TARGET_CERTAIN_ACCURACY = 0.90
"""The accuracy the faces a calibrated model marks certain should reach on unseen people."""
THRESHOLD_GRID = tuple(round(0.30 + 0.01 * i, 2) for i in range(66))
"""Candidate minimum confidences, 0.30 … 0.95."""


@dataclass(frozen=True)
class UncertaintyRule:
    """Flags weak answers.

    Attributes:
        min_confidence: top probability below this → uncertain (0 disables).
        min_margin: top-1 minus top-2 probability below this → uncertain (0 disables).
    """

    min_confidence: float
    min_margin: float

    def __post_init__(self) -> None:
        for name in ("min_confidence", "min_margin"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) \
                    or not 0.0 <= value <= 1.0:
                raise ValueError(f"UncertaintyRule.{name} must be in [0, 1], got {value!r}")

    def flags(self, probs: np.ndarray) -> np.ndarray:
        """Which faces are uncertain.

        Args:
            probs: ``(n, 8)`` probabilities, NaN for classes the model lacks.

        Returns:
            ``(n,)`` bool, True where uncertain.
        """
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != N_EMOTIONS:
            raise ValueError(f"probs must have shape (n, {N_EMOTIONS}), got {p.shape}")
        top1, top2 = top_two(p)
        with np.errstate(invalid="ignore"):
            weak = (top1 < self.min_confidence) | ((top1 - top2) < self.min_margin)
        return weak | np.isnan(top1)


def top_two(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` largest and second-largest finite value per row (NaN → ignored).

    A row with one finite value has top2 = 0; a row with none has both NaN.
    """
    p = np.asarray(probs, dtype=np.float64)
    filled = np.where(np.isnan(p), -np.inf, p)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (n, k>=2), got {p.shape}")
    part = -np.sort(-filled, axis=1)[:, :2]
    top1, top2 = part[:, 0], part[:, 1]
    top1 = np.where(np.isinf(top1), np.nan, top1)
    top2 = np.where(np.isnan(top1), np.nan, np.where(np.isinf(top2), 0.0, top2))
    return top1, top2


FALLBACK_RULE = UncertaintyRule(min_confidence=0.5, min_margin=0.1)
"""The rule of models without shipped calibration (chosen on the dev sets for the earlier
uncalibrated default; docs/models.md)."""


def choose_min_confidence(confidence: np.ndarray, correct: np.ndarray, *,
                          target: float = TARGET_CERTAIN_ACCURACY,
                          weights: np.ndarray | None = None,
                          grid: tuple[float, ...] = THRESHOLD_GRID) -> float:
    """The smallest threshold whose certain faces (top probability ≥ it) are right at least
    ``target`` of the time (weighted by ``weights``, e.g. so that two sets count equally).

    Args:
        confidence: ``(n,)`` calibrated top probability per face.
        correct: ``(n,)`` bool, the top class was right.
        target: accuracy the certain faces must reach.
        weights: ``(n,)`` non-negative weight per face (default 1).
        grid: thresholds to try, ascending.

    Returns:
        The threshold; the grid's last where none reaches ``target``.

    Raises:
        ValueError: arrays of different lengths, or an empty grid.
    """
    c = np.asarray(confidence, np.float64)
    ok = np.asarray(correct, bool)
    w = np.ones(len(c)) if weights is None else np.asarray(weights, np.float64)
    if c.shape != ok.shape or c.shape != w.shape or c.ndim != 1 or not grid:
        raise ValueError("confidence, correct and weights must be 1-d of equal length")
    for t in grid:
        keep = c >= t
        if w[keep].sum() > 0 and (w[keep] * ok[keep]).sum() / w[keep].sum() >= target:
            return float(t)
    return float(grid[-1])


@dataclass(frozen=True)
class CertainAccuracy:
    """What a model's rule achieved on unseen people (cross-validated over people).

    Attributes:
        target: the accuracy the threshold was chosen for.
        accuracy: ``{set: accuracy of the faces marked certain}``.
        uncertain_share: ``{set: share of faces marked uncertain}``.
    """

    target: float
    accuracy: dict[str, float]
    uncertain_share: dict[str, float]


def rule_for(model: str) -> UncertaintyRule:
    """The rule of a registered model: its calibrated threshold (no margin test), or
    :data:`FALLBACK_RULE` for a model without shipped calibration."""
    entry = CALIBRATION.get(model)
    if entry is None or "min_confidence" not in entry:
        return FALLBACK_RULE
    return UncertaintyRule(min_confidence=float(entry["min_confidence"]), min_margin=0.0)


def certain_accuracy(model: str) -> CertainAccuracy | None:
    """The cross-validated accuracy of a registered model's certain faces and its uncertain
    share (None: no shipped calibration)."""
    entry = CALIBRATION.get(model)
    cv = (entry or {}).get("cv", {}).get("certain")
    if not cv:
        return None
    return CertainAccuracy(float(entry.get("target_accuracy", TARGET_CERTAIN_ACCURACY)),
                           {k: float(v) for k, v in cv["accuracy"].items()},
                           {k: float(v) for k, v in cv["uncertain_share"].items()})


def classifier_rule(classifier: object) -> UncertaintyRule:
    """The rule for a loaded classifier: its own ``uncertainty_rule`` where it carries one
    (an adapted model's, fitted on reviewed faces), else :func:`rule_for` its name."""
    own = getattr(classifier, "uncertainty_rule", None)
    if isinstance(own, UncertaintyRule):
        return own
    info = getattr(classifier, "info", None)
    return rule_for(info.name) if info is not None else FALLBACK_RULE


DEFAULT_RULE = rule_for(DEFAULT_MODEL)
"""The default model's rule (docs/models.md, "Uncertainty")."""
