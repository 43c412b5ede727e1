"""A team's own torchvision ResNet-50 (k-way head) from a checkpoint plus a JSON manifest.

The checkpoint is a ``state_dict`` (optionally wrapped as ``{"state_dict": ...}``) of
``torchvision.models.resnet50`` with ``fc`` replaced by ``nn.Linear(2048, k)``, k = the
number of manifest labels (8 for all emotions). See :mod:`analytics.classifiers.manifest`.
torchvision is imported when a model is built (heavy; the registry loads this module only
for a ``resnet50`` manifest).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from analytics.classifiers.base import ColorMode
from analytics.classifiers.manifest import (
    Arch,
    Layout,
    ManifestError,
    ModelManifest,
    preprocess,
    to_emotions,
)


def build_resnet50(n_classes: int) -> nn.Module:
    """Torchvision ResNet-50, random weights, ``fc`` → ``nn.Linear(2048, n_classes)``."""
    from torchvision.models import resnet50

    model = resnet50(weights=None)
    model.fc = nn.Linear(model.fc.in_features, n_classes)
    return model


def load_state_dict(manifest: ModelManifest) -> dict[str, torch.Tensor]:
    """Read the checkpoint's state dict (after the sha256 check).

    Raises:
        ManifestError: unreadable checkpoint or sha256 mismatch.
    """
    manifest.verify_weights()
    try:
        state = torch.load(manifest.weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ManifestError(f"{manifest.name}: cannot read checkpoint {manifest.weights.name}: "
                            f"{type(exc).__name__}: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise ManifestError(f"{manifest.name}: {manifest.weights.name} is not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


class ResNetClassifier:
    """ResNet-50 behind :class:`~analytics.classifiers.base.EmotionClassifier`."""

    def __init__(self, manifest: ModelManifest, *, batch_size: int = 32) -> None:
        if manifest.arch is not Arch.RESNET50:
            raise ManifestError(f"{manifest.name}: arch is {manifest.arch.value}, not resnet50")
        if manifest.color is not ColorMode.RGB:
            raise ManifestError(f"{manifest.name}: resnet50 needs color 'rgb'")
        state = load_state_dict(manifest)
        head = state.get("fc.weight")
        if head is None or head.ndim != 2:
            raise ManifestError(f"{manifest.name}: checkpoint has no fc.weight head")
        if head.shape[0] != len(manifest.labels):
            raise ManifestError(f"{manifest.name}: the checkpoint's head has {head.shape[0]} "
                                f"outputs but the manifest lists {len(manifest.labels)} labels")
        model = build_resnet50(len(manifest.labels))
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[:2]
            raise ManifestError(f"{manifest.name}: checkpoint does not fit resnet50: "
                                f"{' '.join(first)}") from None
        self.model = model.eval()
        self.manifest = manifest
        self.batch_size = batch_size
        self.info = manifest.info()
        self.input_spec = manifest.input_spec

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 RGB → ``(n, 8)`` probabilities (NaN for absent classes)."""
        x = torch.from_numpy(preprocess(crops, self.manifest))
        if self.manifest.layout is not Layout.NCHW:
            x = x.permute(0, 3, 1, 2)
        outs = []
        with torch.inference_mode():
            for start in range(0, len(x), self.batch_size):
                outs.append(self.model(x[start:start + self.batch_size]))
        logits = torch.cat(outs).numpy() if outs else np.zeros((0, len(self.manifest.labels)))
        return to_emotions(logits, self.manifest)
