"""Calibrated probabilities: temperature or vector scaling, fitted on labeled faces.

A classifier's probabilities are *calibrated* when, among the faces it gives a top probability
of about p, about a share p is right. Measured by the expected calibration error (ECE, 15
equal-width bins of the top probability; :func:`reliability`) and drawn as a reliability
diagram (accuracy against confidence per bin).

Two maps of the log-probabilities ``z = log p`` (for a softmax model, its logits up to a
constant per face, which softmax ignores), over the classes the model predicts (NaN classes
stay NaN):

* ``temperature``: ``softmax(z / T)``, one parameter; it never changes the top class;
* ``vector``: ``softmax(a ⊙ z + b)``, a scale and a bias per class (an L2 pull towards
  ``a = 1, b = 0`` keeps it from overfitting small sets); it may change the top class.

Both are fitted by minimising the (optionally weighted) negative log-likelihood. Which one a
model ships with, and its parameters, are chosen by cross-validation grouped by person
(``benchmarks/model_cv.py``; docs/models.md) and kept as data in
:mod:`analytics.calibration_data`.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field

import numpy as np

from brandmood.core.types import N_EMOTIONS

N_BINS = 15
EPS = 1e-7
VECTOR_L2 = 1e-2
"""Strength of the vector map's pull towards the identity (per face, on a and b)."""


class CalibrationKind(enum.StrEnum):
    """Which map (see the module docstring)."""

    NONE = "none"
    TEMPERATURE = "temperature"
    VECTOR = "vector"


@dataclass(frozen=True)
class Calibration:
    """A fitted map of ``(n, 8)`` probabilities.

    Attributes:
        kind: the map.
        temperature: T of the temperature map (1 = unchanged).
        scale: ``(8,)`` per-class a of the vector map (ones otherwise).
        bias: ``(8,)`` per-class b of the vector map (zeros otherwise).
    """

    kind: CalibrationKind = CalibrationKind.NONE
    temperature: float = 1.0
    scale: tuple[float, ...] = field(default=(1.0,) * N_EMOTIONS)
    bias: tuple[float, ...] = field(default=(0.0,) * N_EMOTIONS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CalibrationKind(self.kind))
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be finite and > 0, got {self.temperature}")
        for name in ("scale", "bias"):
            v = tuple(float(x) for x in getattr(self, name))
            if len(v) != N_EMOTIONS or not all(np.isfinite(v)):
                raise ValueError(f"{name} must be {N_EMOTIONS} finite numbers, got {v}")
            object.__setattr__(self, name, v)

    @property
    def tag(self) -> str:
        """Short text for a model version, e.g. ``T1.42`` or ``vector-3f2a``."""
        if self.kind is CalibrationKind.NONE:
            return "uncalibrated"
        if self.kind is CalibrationKind.TEMPERATURE:
            return f"T{self.temperature:.3g}"
        digest = hashlib.sha256(repr((self.scale, self.bias)).encode()).hexdigest()[:6]
        return f"vector-{digest}"

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "temperature": self.temperature,
                "scale": list(self.scale), "bias": list(self.bias)}

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """Inverse of :meth:`to_dict` (missing keys: identity).

        Raises:
            ValueError: bad values.
        """
        return cls(CalibrationKind(data.get("kind", "none")),
                   float(data.get("temperature", 1.0)),
                   tuple(data.get("scale") or (1.0,) * N_EMOTIONS),
                   tuple(data.get("bias") or (0.0,) * N_EMOTIONS))

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """``(n, 8)`` probabilities (NaN: class not predicted) → ``(n, 8)`` float32 calibrated;
        rows without a finite value stay NaN."""
        p = _check(probs)
        if self.kind is CalibrationKind.NONE:
            return p.astype(np.float32)
        z = np.log(np.clip(p, EPS, 1.0))
        if self.kind is CalibrationKind.TEMPERATURE:
            z = z / self.temperature
        else:
            z = z * np.asarray(self.scale) + np.asarray(self.bias)
        return _softmax_finite(z).astype(np.float32)


def _check(probs: np.ndarray) -> np.ndarray:
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or p.shape[1] != N_EMOTIONS:
        raise ValueError(f"probs must be (n, {N_EMOTIONS}), got {p.shape}")
    return p


def _softmax_finite(z: np.ndarray) -> np.ndarray:
    """Row softmax over the finite entries (NaN stays NaN)."""
    finite = np.isfinite(z)
    m = np.where(finite, z, -np.inf).max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(finite, np.exp(np.where(finite, z, 0.0) - m), 0.0)
    s = e.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = e / s
    return np.where(finite, out, np.nan)


def nll(probs: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood of the true labels (``(n,)`` EMOTIONS indices), weighted
    by ``weights`` ``(n,)``, over the faces whose true class the model predicts (a class it
    lacks, e.g. contempt, has no likelihood to calibrate; accuracy and ECE count those faces
    as wrong)."""
    p = _check(probs)
    y = np.asarray(labels, np.int64)
    ok = ~np.all(np.isnan(p), axis=1)
    ok[ok] &= ~np.isnan(p[ok, y[ok]])
    if not ok.any():
        return float("nan")
    w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
    return float(-(w[ok] * np.log(np.clip(p[ok, y[ok]], EPS, 1.0))).sum() / w[ok].sum())


def fit(probs: np.ndarray, labels: np.ndarray, kind: CalibrationKind | str, *,
        weights: np.ndarray | None = None) -> Calibration:
    """Fit a calibration map on ``(n, 8)`` probabilities and ``(n,)`` true EMOTIONS indices.

    Faces whose true class the model does not predict (NaN) or that have no probabilities
    are left out. ``weights`` ``(n,)``: e.g. so that two sets count equally.

    Raises:
        ValueError: no usable face.
    """
    kind = CalibrationKind(kind)
    p = _check(probs)
    y = np.asarray(labels, np.int64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
    ok = ~np.all(np.isnan(p), axis=1)
    ok[ok] &= ~np.isnan(p[ok, y[ok]])
    if kind is CalibrationKind.NONE:
        return Calibration()
    if not ok.any():
        raise ValueError("no face with a probability for its true class to calibrate on")
    z = np.log(np.clip(p[ok], EPS, 1.0))
    if kind is CalibrationKind.TEMPERATURE:
        return Calibration(kind, temperature=_fit_temperature(z, y[ok], w[ok]))
    a, b = _fit_vector(z, y[ok], w[ok])
    return Calibration(kind, scale=tuple(a), bias=tuple(b))


def _nll_z(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    q = _softmax_finite(z)
    return float(-(w * np.log(np.clip(q[np.arange(len(y)), y], 1e-12, 1.0))).sum() / w.sum())


def _fit_temperature(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda t: _nll_z(z / np.exp(t), y, w), bounds=(-3.0, 3.0),
                          method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def _fit_vector(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class scale and bias (classes never finite keep 1 and 0), by L-BFGS."""
    import torch

    finite = np.isfinite(z)
    zt = torch.as_tensor(np.where(finite, z, 0.0))
    mask = torch.as_tensor(finite)
    yt = torch.as_tensor(y)
    wt = torch.as_tensor(w / w.sum())
    a = torch.ones(N_EMOTIONS, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(N_EMOTIONS, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a, b], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = torch.where(mask, zt * a + b, torch.tensor(-torch.inf, dtype=torch.float64))
        loss = -(wt * torch.log_softmax(logits, dim=1)[torch.arange(len(yt)), yt]).sum()
        loss = loss + VECTOR_L2 * (((a - 1) ** 2).sum() + (b ** 2).sum())
        loss.backward()
        return loss

    opt.step(closure)
    seen = finite.any(axis=0)
    a_out = np.where(seen, a.detach().numpy(), 1.0)
    b_out = np.where(seen, b.detach().numpy(), 0.0)
    return a_out, b_out


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's bins (equal width on [0, 1]) and the ECE.

    Attributes:
        edges: ``(n_bins + 1,)`` bin edges.
        counts: ``(n_bins,)`` faces per bin.
        confidence: ``(n_bins,)`` mean top probability per bin (NaN where empty).
        accuracy: ``(n_bins,)`` share right per bin (NaN where empty).
        ece: ``sum_b |B|/n × |accuracy_b − confidence_b|``.
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float

    def to_dict(self) -> dict:
        def clean(a: np.ndarray) -> list:
            return [None if not np.isfinite(v) else float(v) for v in a]

        return {"edges": self.edges.tolist(), "counts": self.counts.tolist(),
                "confidence": clean(self.confidence), "accuracy": clean(self.accuracy),
                "ece": self.ece}


def reliability(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS
                ) -> Reliability:
    """Bin ``(n,)`` top probabilities with ``(n,)`` bool correctness; bin b holds
    ``(b/n_bins, (b+1)/n_bins]`` (the first also holds 0), as
    :func:`analytics.metrics.expected_calibration_error` bins them.

    Raises:
        ValueError: arrays of different lengths, ``n_bins < 1``.
    """
    c = np.nan_to_num(np.asarray(confidence, np.float64), nan=0.0)
    ok = np.asarray(correct, bool)
    if c.ndim != 1 or c.shape != ok.shape:
        raise ValueError("confidence and correct must be 1-d of equal length")
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    bins = np.clip(np.ceil(c * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(bins, weights=c, minlength=n_bins) / counts
        acc = np.bincount(bins, weights=ok.astype(np.float64), minlength=n_bins) / counts
    gaps = np.where(counts > 0, np.abs(np.nan_to_num(acc) - np.nan_to_num(conf)), 0.0)
    ece = float((counts * gaps).sum() / c.size) if c.size else float("nan")
    return Reliability(np.linspace(0.0, 1.0, n_bins + 1), counts, conf, acc, ece)


def top_prediction(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` top class index (-1 where no finite value) and its probability (NaN there)."""
    p = _check(probs)
    valid = ~np.all(np.isnan(p), axis=1)
    pred = np.full(len(p), -1, np.int64)
    conf = np.full(len(p), np.nan)
    if valid.any():
        pred[valid] = np.nanargmax(p[valid], axis=1)
        conf[valid] = np.nanmax(p[valid], axis=1)
    return pred, conf


def reliability_of(probs: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """:func:`reliability` of ``(n, 8)`` probabilities against ``(n,)`` true labels, over the
    faces that have probabilities."""
    pred, conf = top_prediction(probs)
    has = pred >= 0
    return reliability(conf[has], pred[has] == np.asarray(labels)[has], n_bins)


__all__ = ["N_BINS", "Calibration", "CalibrationKind", "Reliability", "fit", "nll",
           "reliability", "reliability_of", "top_prediction"]
