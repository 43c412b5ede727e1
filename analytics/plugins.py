"""What the two model registries share: factories, their weight files, and entry points.

A registered model (:func:`analytics.classifiers.registry.register_classifier`,
:func:`analytics.identity_registry.register_embedder`) names

* a **factory**: a callable, or a ``"module:attribute"`` reference (the syntax of entry
  points) imported only when the model is first loaded, so that listing models never
  imports torch;
* its **weights**: ``{keyword: WeightSource}`` (:mod:`analytics.weights`); when the model
  is loaded, each source is resolved to a local path and passed to the factory under its
  keyword, with the registration's fixed ``options``.

Installed packages add models through entry points: every entry point of the group
(``brandmood.classifiers``, ``brandmood.embedders``) names a module (or anything in it)
that registers its models when imported. :func:`discover` loads them, once per process.
"""

from __future__ import annotations

import logging
import pkgutil
import threading
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from analytics.weights import WeightSource, env_override, locate, missing

log = logging.getLogger(__name__)

Factory = Callable[..., Any] | str
"""A callable, or ``"package.module:attribute"`` imported when first needed."""


def resolve_factory(factory: Factory) -> Callable[..., Any]:
    """The callable a factory names (imports its module for a ``"module:attr"`` reference).

    Raises:
        ImportError, AttributeError: the reference names nothing importable.
    """
    return pkgutil.resolve_name(factory) if isinstance(factory, str) else factory


def check_factory(factory: Factory) -> None:
    """Refuse what cannot be a factory (a reference without ``:``, or no callable).

    Raises:
        ValueError: for a malformed reference or a non-callable.
    """
    if isinstance(factory, str):
        module, sep, attr = factory.partition(":")
        if not (module and sep and attr):
            raise ValueError(f"factory reference {factory!r} must read 'package.module:name'")
    elif not callable(factory):
        raise ValueError(f"factory must be callable or 'module:name', got {factory!r}")


def load_weights(weights: Mapping[str, WeightSource], *,
                 download: bool = True) -> dict[str, Path]:
    """``{keyword: local path}``: each source found (or fetched, where allowed).

    Raises:
        brandmood.core.fetch.AssetError: a file is missing and cannot be fetched, or fails
            its checksum (:func:`analytics.weights.locate`).
    """
    return {key: locate(src, download=download, override=env_override(src))
            for key, src in weights.items()}


def weights_missing(weights: Mapping[str, WeightSource]) -> list[str]:
    """Why each absent file is absent (empty when all are here); never downloads."""
    reasons = (missing(src, override=env_override(src)) for src in weights.values())
    return [r for r in reasons if r]


_lock = threading.RLock()
_scanned: set[str] = set()
_failed: dict[str, dict[str, str]] = {}


def discover(group: str, *, refresh: bool = False) -> dict[str, str]:
    """Import every entry point of ``group`` (once per process unless ``refresh``).

    A plug-in that fails to import is logged and left out; the registries list it as
    unavailable with the reason.

    Returns:
        ``{entry point name: why it failed}`` for the plug-ins that could not be loaded.
    """
    with _lock:
        if group in _scanned and not refresh:
            return dict(_failed.get(group, {}))
        failed: dict[str, str] = {}
        for ep in entry_points(group=group):
            try:
                ep.load()
            except Exception as exc:  # a broken plug-in never breaks the registry
                failed[ep.name] = (f"plug-in {ep.value} could not be loaded: "
                                   f"{type(exc).__name__}: {exc}")
                log.warning("%s plug-in %s: %s", group, ep.name, failed[ep.name])
        _scanned.add(group)
        _failed[group] = failed
        return dict(failed)


__all__ = ["Factory", "check_factory", "discover", "load_weights", "resolve_factory",
           "weights_missing"]
