"""The one-method interface every emotion classifier implements."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from brandmood.core.types import EMOTIONS, N_EMOTIONS, Emotion, ModelInfo


class ColorMode(enum.StrEnum):
    """What a model reads: one gray channel or three RGB channels."""

    GRAY = "gray"
    RGB = "rgb"


@dataclass(frozen=True)
class InputSpec:
    """How to cut a face for a model.

    Attributes:
        size: side of the square crop in pixels.
        margin: extra context around the detector's box, as a fraction of its size, per
            side (negative: inside the box; see :mod:`analytics.align`).
        color: gray or RGB input.
    """

    size: int
    margin: float = 0.2
    color: ColorMode = ColorMode.RGB


@runtime_checkable
class EmotionClassifier(Protocol):
    """Turns aligned face crops into eight emotion probabilities."""

    info: ModelInfo
    input_spec: InputSpec

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Classify crops.

        Args:
            crops: ``(n, S, S, 3)`` uint8 RGB aligned face crops, ``S == input_spec.size``.

        Returns:
            ``(n, 8)`` float32 probabilities in :data:`brandmood.core.types.EMOTIONS` order,
            NaN for classes the model does not predict.
        """
        ...


def to_emotion_order(probs: np.ndarray, labels: tuple[Emotion, ...]) -> np.ndarray:
    """Reorder ``(n, k)`` probabilities in ``labels`` order into ``(n, 8)`` EMOTIONS order.

    Classes absent from ``labels`` (contempt for the 7-class models) are NaN, never 0.

    Raises:
        ValueError: for probabilities that are not ``(n, len(labels))``.
    """
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 2 or p.shape[1] != len(labels):
        raise ValueError(f"expected (n, {len(labels)}) probabilities, got {p.shape}")
    out = np.full((len(p), N_EMOTIONS), np.nan, np.float32)
    for j, label in enumerate(labels):
        out[:, EMOTIONS.index(label)] = p[:, j]
    return out
