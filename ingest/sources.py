"""The registry of ingest sources: one name → one factory building a :class:`Source`.

The built-in sources are listed here; a plug-in adds its own with
:func:`register_source`, or, from an installed package, through the ``brandmood.sources``
entry-point group (the entry point names a factory, usually a source class's
``from_request``). ``brandmood ingest source NAME TARGET…`` and :func:`build_source`
reach every registered name. See docs/architecture.md, "Extending: a new source".
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points

from ingest.base import Source, SourceFactory, SourceKind, SourceRequest
from ingest.facebook import FacebookSource
from ingest.feeds import FeedSource
from ingest.files import FileSource
from ingest.instagram import InstagramSource
from ingest.manifest import ManifestSource
from ingest.youtube import YouTubeSource

ENTRY_POINT_GROUP = "brandmood.sources"
log = logging.getLogger(__name__)

_REGISTRY: dict[str, SourceFactory] = {
    SourceKind.FILES: FileSource.from_request,
    SourceKind.MANIFEST: ManifestSource.from_request,
    SourceKind.FEED: FeedSource.from_request,
    SourceKind.INSTAGRAM: InstagramSource.from_request,
    SourceKind.FACEBOOK: FacebookSource.from_request,
    SourceKind.YOUTUBE: YouTubeSource.from_request,
}
_lock = threading.Lock()
_entry_points_loaded = False


def register_source(name: str, factory: SourceFactory) -> None:
    """Make ``factory`` the source called ``name``.

    Raises:
        ValueError: for an empty name or one already registered.
    """
    key = name.strip().lower()
    if not key:
        raise ValueError("a source needs a name")
    with _lock:
        if key in _REGISTRY:
            raise ValueError(f"an ingest source called {key!r} is already registered")
        _REGISTRY[key] = factory


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        found = list(entry_points(group=ENTRY_POINT_GROUP))
    for ep in found:
        try:
            register_source(ep.name, ep.load())
        except Exception:  # one broken plug-in must not hide the others
            log.warning("ingest source plug-in %r (%s) cannot be loaded", ep.name, ep.value,
                        exc_info=True)


def source_names() -> list[str]:
    """Every registered source name: the built-ins first, then plug-ins."""
    _load_entry_points()
    with _lock:
        return list(_REGISTRY)


def build_source(name: str, request: SourceRequest) -> Source:
    """The source called ``name``, built from ``request``.

    Raises:
        ValueError: for an unknown name or a request the source cannot use.
        FileNotFoundError: for a file source whose path does not exist.
    """
    _load_entry_points()
    with _lock:
        factory = _REGISTRY.get(name.strip().lower())
    if factory is None:
        raise ValueError(f"unknown ingest source {name!r} (known: {', '.join(source_names())})")
    return factory(request)
