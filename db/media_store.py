"""Content-addressed media: one interface, a local folder or an S3-compatible bucket.

Every stored file lives at ``<aa>/<bb>/<sha256><suffix>`` (its content's hash), written
once: the same bytes are stored once and a reader never sees a half-written file.
Derived pictures (thumbnails, face crops) live beside it under
``derived/<aa>/<bb>/<sha256>/<name>``, keyed by the source's hash and how they were made,
and go when the source goes.

:class:`MediaStore` is the interface every reader and writer uses;
:class:`LocalMediaStore` (a folder; the default) and
:class:`db.object_store.ObjectMediaStore` (``s3://bucket/prefix``) implement it.
Read a file with :meth:`MediaStore.read_bytes` (images) or, where a library needs a
path (PyAV for video), with ``with store.local_path(relpath) as path:`` (the file itself
for the folder store, a temporary download for a bucket).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

CHUNK = 1 << 20
DERIVED = "derived"
"""Top folder of derived pictures (thumbnails, crops)."""


class MediaStoreError(RuntimeError):
    """A media file could not be stored or found."""


class MediaMissingError(MediaStoreError, FileNotFoundError):
    """A stored media file is not (or no longer) in the store."""


@dataclass(frozen=True)
class StoredMedia:
    """Where content landed: its hash, path relative to the store root, and size."""

    sha256: str
    relpath: str
    size: int
    created: bool


def relpath_for(sha256: str, suffix: str) -> str:
    """Sharded relative path for a hash, e.g. ``ab/cd/abcd….jpg``.

    Raises:
        MediaStoreError: for anything but a sha256 hex digest.
    """
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise MediaStoreError(f"not a sha256 hex digest: {sha256!r}")
    suffix = suffix.lower() if suffix.startswith(".") or not suffix else f".{suffix.lower()}"
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}{suffix}"


def derived_key(relpath: str, name: str) -> str:
    """Key of a picture derived from a stored file, e.g. ``derived/ab/cd/<sha>/thumb-320.jpg``.

    Raises:
        MediaStoreError: if ``relpath`` is not a content address or ``name`` not a plain
            file name.
    """
    sha = Path(relpath).name.split(".", 1)[0]
    if relpath_for(sha, Path(relpath).suffix) != relpath:
        raise MediaStoreError(f"not a stored media path: {relpath!r}")
    if not name or "/" in name or name.startswith("."):
        raise MediaStoreError(f"not a plain file name: {name!r}")
    return f"{derived_prefix(relpath)}/{name}"


def face_crop_prefix(timestamp_ms: int, box: tuple[float, float, float, float]) -> str:
    """The start of the names of every derived crop of one face (any size), e.g.
    ``face-0-12-30-80-98-``: the face's frame time in ms and its box, rounded."""
    x1, y1, x2, y2 = (round(v) for v in box)
    return f"face-{int(timestamp_ms)}-{x1}-{y1}-{x2}-{y2}-"


def derived_prefix(relpath: str) -> str:
    """Folder of everything derived from ``relpath`` (no trailing slash)."""
    sha = Path(relpath).name.split(".", 1)[0]
    return f"{DERIVED}/{sha[:2]}/{sha[2:4]}/{sha}"


@runtime_checkable
class MediaStore(Protocol):
    """Where media files live (see the module docstring); picklable, for Ray workers."""

    @property
    def location(self) -> str:
        """Where the store is, for people: a folder or ``s3://bucket/prefix`` (no secret)."""
        ...

    def scratch_dir(self) -> Path:
        """A local folder for jobs' temporary files (created)."""
        ...

    def put_chunks(self, chunks: Iterable[bytes], *, suffix: str) -> StoredMedia:
        """Store a stream of bytes, hashing while writing."""
        ...

    def put_bytes(self, data: bytes, *, suffix: str) -> StoredMedia:
        """Store bytes held in memory."""
        ...

    def put_file(self, src: Path, *, suffix: str | None = None) -> StoredMedia:
        """Copy a file into the store (the source is left untouched)."""
        ...

    def adopt(self, tmp: Path, *, sha256: str, suffix: str, size: int) -> StoredMedia:
        """Move an already-hashed local temporary file into its content address.

        The temporary file is consumed. Content already stored is kept (``created=False``)
        once its size and hash are verified.
        """
        ...

    def exists(self, relpath: str) -> bool:
        """True while the file is stored."""
        ...

    def read_bytes(self, relpath: str) -> bytes:
        """The whole file.

        Raises:
            MediaMissingError: if it is not stored.
        """
        ...

    def local_path(self, relpath: str) -> AbstractContextManager[Path]:
        """A local file with the content, for the ``with`` block (libraries that need a path).

        Raises:
            MediaMissingError: if it is not stored.
        """
        ...

    def get_derived(self, key: str) -> bytes | None:
        """A derived picture (:func:`derived_key`), or None if not made yet."""
        ...

    def put_derived(self, key: str, data: bytes) -> None:
        """Store a derived picture once (a concurrent writer's copy is as good)."""
        ...

    def delete_if_unreferenced(self, relpath: str, *,
                               is_referenced: Callable[[str], bool]) -> bool:
        """Remove a stored file and its derived pictures unless something still refers to it.

        Returns:
            True if the file was removed.
        """
        ...

    def delete_derived(self, relpath: str, *, starting: str = "") -> int:
        """Remove the pictures derived from ``relpath`` whose names start with ``starting``
        ("": all of them), e.g. one face's crops; the file itself stays.

        Returns:
            How many were removed.
        """
        ...

    def clean_temp(self) -> int:
        """Remove temporary files a killed writer left behind; returns how many."""
        ...


class ContentWriter:
    """``put_chunks`` / ``put_bytes`` / ``put_file`` from ``temp_file`` and ``adopt``."""

    def temp_file(self) -> tuple[int, Path]:
        """A new temporary file in :meth:`scratch_dir`."""
        fd, tmp = tempfile.mkstemp(dir=self.scratch_dir(), prefix="bm-in-")
        return fd, Path(tmp)

    def scratch_dir(self) -> Path:  # pragma: no cover - every store defines it
        raise NotImplementedError

    def adopt(self, tmp: Path, *, sha256: str, suffix: str,
              size: int) -> StoredMedia:  # pragma: no cover - every store defines it
        raise NotImplementedError

    def put_chunks(self, chunks: Iterable[bytes], *, suffix: str) -> StoredMedia:
        fd, tmp = self.temp_file()
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for block in chunks:
                    fh.write(block)
                    h.update(block)
                    size += len(block)
            return self.adopt(tmp, sha256=h.hexdigest(), suffix=suffix, size=size)
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, data: bytes, *, suffix: str) -> StoredMedia:
        return self.put_chunks([data], suffix=suffix)

    def put_file(self, src: Path, *, suffix: str | None = None) -> StoredMedia:
        def chunks() -> Iterable[bytes]:
            with open(src, "rb") as fh:
                while block := fh.read(CHUNK):
                    yield block
        return self.put_chunks(chunks(), suffix=Path(src).suffix if suffix is None else suffix)


class LocalMediaStore(ContentWriter):
    """Content-addressed files under ``root``; temporary files in ``root/.tmp`` (same
    file system, so a stored file appears by an atomic rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / ".tmp"

    def __repr__(self) -> str:
        return f"LocalMediaStore({str(self.root)!r})"

    @property
    def location(self) -> str:
        return str(self.root)

    def path(self, relpath: str) -> Path:
        """Absolute path of a stored file (this store only; readers use the interface).

        Raises:
            MediaStoreError: if ``relpath`` leaves the store.
        """
        full = (self.root / relpath).resolve()
        if self.root.resolve() not in full.parents:
            raise MediaStoreError(f"path {relpath!r} is outside the media store")
        return full

    relpath_for = staticmethod(relpath_for)

    def scratch_dir(self) -> Path:
        self._tmp.mkdir(parents=True, exist_ok=True)
        return self._tmp

    def adopt(self, tmp: Path, *, sha256: str, suffix: str, size: int) -> StoredMedia:
        rel = relpath_for(sha256, suffix)
        dest = self.root / rel
        if dest.exists():
            Path(tmp).unlink(missing_ok=True)
            return StoredMedia(sha256, rel, size, created=False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:  # write-once: a link fails where a concurrent writer got there first
            os.link(tmp, dest)
        except FileExistsError:
            return StoredMedia(sha256, rel, size, created=False)
        except OSError:  # a file system without hard links: atomic rename
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
        _fsync_dir(dest.parent)
        return StoredMedia(sha256, rel, size, created=True)

    def _existing(self, relpath: str) -> Path:
        path = self.path(relpath)
        if not path.is_file():
            raise MediaMissingError(f"media file missing from the store: {relpath}")
        return path

    def exists(self, relpath: str) -> bool:
        return self.path(relpath).is_file()

    def read_bytes(self, relpath: str) -> bytes:
        return self._existing(relpath).read_bytes()

    @contextmanager
    def local_path(self, relpath: str) -> Iterator[Path]:
        yield self._existing(relpath)

    def get_derived(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put_derived(self, key: str, data: bytes) -> None:
        dest = self.path(key)
        fd, tmp = self.temp_file()
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)

    def delete_if_unreferenced(self, relpath: str, *,
                               is_referenced: Callable[[str], bool]) -> bool:
        if is_referenced(relpath):
            return False
        shutil.rmtree(self.path(derived_prefix(relpath)), ignore_errors=True)
        target = self.path(relpath)
        if not target.exists():
            return False
        target.unlink()
        for parent in (target.parent, target.parent.parent):
            try:
                parent.rmdir()
            except OSError:
                break
        return True

    def delete_derived(self, relpath: str, *, starting: str = "") -> int:
        folder = self.path(derived_prefix(relpath))
        if not folder.is_dir():
            return 0
        n = 0
        for p in folder.iterdir():
            if p.is_file() and p.name.startswith(starting):
                p.unlink(missing_ok=True)
                n += 1
        with suppress(OSError):  # empty now: no folder named by the hash stays behind
            folder.rmdir()
        return n

    def clean_temp(self) -> int:
        return clean_folder(self._tmp)


def clean_folder(folder: Path) -> int:
    """Empty a scratch folder; returns how many entries were removed."""
    if not folder.exists():
        return 0
    n = 0
    for p in folder.iterdir():
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
