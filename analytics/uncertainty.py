"""When a classifier's answer is too weak to count as a label.

A face is *uncertain* when its top probability is under ``min_confidence`` or the gap
between its top two probabilities is under ``min_margin``. NaN entries (classes the model
does not predict) are ignored; a face with no finite probability at all is uncertain.
Aggregates report uncertain faces as their own share instead of forcing a label.

The defaults were chosen on the dev sets (JAFFE + CK+48, see ``docs/models.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from brandmood.core.types import N_EMOTIONS


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


DEFAULT_RULE = UncertaintyRule(min_confidence=0.5, min_margin=0.1)
"""Defaults chosen on the dev sets; see docs/models.md."""
