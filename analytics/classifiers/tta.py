"""Horizontal-flip test-time augmentation: average the answers on a face and its mirror."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from analytics.classifiers.base import EmotionClassifier


class FlipTTA:
    """Wraps a classifier; ``predict`` = mean of the crops' and the mirrored crops' probabilities.

    NaN classes stay NaN. The model info gets a ``+flip`` version suffix so results made
    with and without TTA are never mixed up.
    """

    def __init__(self, base: EmotionClassifier) -> None:
        self.base = base
        self.input_spec = base.input_spec
        self.info = replace(base.info, version=f"{base.info.version}+flip")

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 RGB → ``(n, 8)`` averaged probabilities."""
        arr = np.asarray(crops)
        if arr.ndim != 4:
            raise ValueError(f"crops must be (n, S, S, 3), got {arr.shape}")
        both = np.concatenate([arr, arr[:, :, ::-1]])
        probs = self.base.predict(both)
        n = len(arr)
        return ((probs[:n] + probs[n:]) / 2).astype(np.float32)
