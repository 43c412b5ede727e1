"""Weighted average of several emotion classifiers' probabilities.

Crops: every member must cut faces with the same margin, unless the ensemble is given its own
``margin`` (then every member reads crops cut with it, as its weights were chosen for); the
ensemble asks for crops at the largest member size (``input_spec.size``) and resizes them
(bilinear) for each smaller member. The
:class:`~analytics.classifiers.base.EmotionClassifier` protocol is unchanged.

Classes: the ensemble predicts only the classes that *every* member predicts. Each member's
probabilities are renormalised over those shared classes, then averaged with the weights;
every other class is NaN. A class that only some members know would otherwise get its
probability from a subset of the models, which is not comparable across faces. (For
``fer-mini-xception`` and ``facex`` the classes are the same seven, so this is a plain
weighted mean.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from analytics.classifiers.base import ColorMode, EmotionClassifier, InputSpec
from analytics.classifiers.manifest import resize_crops
from brandmood.core.types import N_EMOTIONS, ModelInfo


class EnsembleClassifier:
    """Averages the probabilities of ``members`` (equal weights unless ``weights`` given).

    Attributes:
        members: the classifiers, in order.
        weights: ``(k,)`` float64 normalised to sum 1.
        input_spec: the largest member size; the given margin, else the members' common one.
        info: name, member labels (and weights when unequal), digest of the member weights.
    """

    def __init__(self, members: Sequence[EmotionClassifier],
                 weights: Sequence[float] | None = None, *, name: str | None = None,
                 margin: float | None = None) -> None:
        """Check the members and weights.

        Args:
            members: two or more classifiers whose ``input_spec.margin`` agrees (unless
                ``margin`` is given).
            weights: one non-negative weight per member, not all zero (normalised here).
            name: the model name (default: the member names joined by ``+``).
            margin: the crop margin every member reads (default: the members' common one).

        Raises:
            ValueError: fewer than two members, margins that differ, bad weights.
        """
        self.members = list(members)
        if len(self.members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(self.members)}")
        margins = ({float(margin)} if margin is not None
                   else {m.input_spec.margin for m in self.members})
        if len(margins) != 1:
            raise ValueError("ensemble members must cut faces with the same margin, got "
                             + ", ".join(f"{m.info.name}={m.input_spec.margin}"
                                         for m in self.members))
        self.weights = _normalised(weights, len(self.members))
        self.input_spec = InputSpec(
            size=max(m.input_spec.size for m in self.members), margin=margins.pop(),
            color=(ColorMode.GRAY if all(m.input_spec.color is ColorMode.GRAY
                                         for m in self.members) else ColorMode.RGB))
        self.info = _ensemble_info(self.members, self.weights, name, margin)

    def member_probs(self, crops: np.ndarray) -> list[np.ndarray]:
        """Each member's ``(n, 8)`` probabilities on ``crops`` resized to its input size.

        Args:
            crops: ``(n, S, S, 3)`` uint8 RGB, ``S == input_spec.size``.
        """
        arr = np.asarray(crops)
        size = self.input_spec.size
        if arr.ndim != 4 or arr.shape[1:] != (size, size, 3) or arr.dtype != np.uint8:
            raise ValueError(f"crops must be (n, {size}, {size}, 3) uint8 RGB, "
                             f"got {arr.shape} {arr.dtype}")
        out = []
        for m in self.members:
            s = m.input_spec.size
            sized = arr if s == size else resize_crops(arr, s)
            out.append(np.asarray(m.predict(sized), np.float64))
        return out

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 RGB → ``(n, 8)`` float32 weighted mean probabilities.

        Classes some member lacks (NaN in its output) are NaN; the rest sum to 1.
        """
        probs = self.member_probs(crops)
        n = len(probs[0])
        if n == 0:
            return np.zeros((0, N_EMOTIONS), np.float32)
        shared = np.all([~np.isnan(p).all(axis=0) for p in probs], axis=0)
        total = np.zeros((n, int(shared.sum())), np.float64)
        for w, p in zip(self.weights, probs, strict=True):
            part = np.nan_to_num(p[:, shared])
            sums = part.sum(axis=1, keepdims=True)
            total += w * np.divide(part, sums, out=np.zeros_like(part), where=sums > 0)
        out = np.full((n, N_EMOTIONS), np.nan, np.float32)
        out[:, shared] = total
        return out


def _normalised(weights: Sequence[float] | None, k: int) -> np.ndarray:
    if weights is None:
        return np.full(k, 1.0 / k)
    w = np.asarray(list(weights), np.float64)
    if w.shape != (k,):
        raise ValueError(f"expected {k} weights, one per member, got {len(w)}")
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero, got {list(w)}")
    return w / w.sum()


def _ensemble_info(members: list[EmotionClassifier], weights: np.ndarray,
                   name: str | None, margin: float | None = None) -> ModelInfo:
    """Name, a version listing members and weights (and the margin where it is the
    ensemble's own), and a digest of the members' weights."""
    equal = np.allclose(weights, weights[0])
    parts = [m.info.label if equal else f"{m.info.label}*{w:.3g}"
             for m, w in zip(members, weights, strict=True)]
    digest = hashlib.sha256("\n".join(f"{m.info.name}@{m.info.version}:{m.info.weights_sha256}"
                                      f":{w!r}" for m, w in zip(members, weights, strict=True))
                            .encode())
    if margin is not None:
        parts.append(f"margin{margin:g}")
        digest.update(f"margin={margin!r}".encode())
    return ModelInfo(name or "+".join(m.info.name for m in members), "+".join(parts),
                     digest.hexdigest())


__all__ = ["EnsembleClassifier"]
