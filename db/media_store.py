"""Content-addressed media files: one file per distinct content, written atomically.

Layout: ``<root>/<aa>/<bb>/<sha256><suffix>``. Writers stream into a temporary file
inside ``<root>/.tmp`` (same file system), hash as they go, and rename into place:
a reader never sees a half-written file, and the same bytes are stored once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


class MediaStoreError(RuntimeError):
    """A media file could not be stored or found."""


@dataclass(frozen=True)
class StoredMedia:
    """Where content landed: its hash, path relative to the store root, and size."""

    sha256: str
    relpath: str
    size: int
    created: bool


class MediaStore:
    """Content-addressed files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / ".tmp"

    def path(self, relpath: str) -> Path:
        """Absolute path of a stored file.

        Raises:
            MediaStoreError: if ``relpath`` leaves the store.
        """
        full = (self.root / relpath).resolve()
        if self.root.resolve() not in full.parents:
            raise MediaStoreError(f"path {relpath!r} is outside the media store")
        return full

    @staticmethod
    def relpath_for(sha256: str, suffix: str) -> str:
        """Sharded relative path for a hash, e.g. ``ab/cd/abcd….jpg``."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise MediaStoreError(f"not a sha256 hex digest: {sha256!r}")
        suffix = suffix.lower() if suffix.startswith(".") or not suffix else f".{suffix.lower()}"
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}{suffix}"

    def temp_file(self) -> tuple[int, Path]:
        """A new temporary file inside the store (same file system as the final place)."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix="in-")
        return fd, Path(tmp)

    def put_chunks(self, chunks: Iterable[bytes], *, suffix: str) -> StoredMedia:
        """Store a stream of bytes, hashing while writing."""
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
        """Store bytes held in memory."""
        return self.put_chunks([data], suffix=suffix)

    def put_file(self, src: Path, *, suffix: str | None = None) -> StoredMedia:
        """Copy a file into the store (the source is left untouched)."""
        def chunks() -> Iterable[bytes]:
            with open(src, "rb") as fh:
                while block := fh.read(_CHUNK):
                    yield block
        return self.put_chunks(chunks(), suffix=Path(src).suffix if suffix is None else suffix)

    def adopt(self, tmp: Path, *, sha256: str, suffix: str, size: int) -> StoredMedia:
        """Move an already-hashed temporary file into its content address.

        If the content is already stored, the temporary file is dropped and the
        existing file is returned with ``created=False``.
        """
        rel = self.relpath_for(sha256, suffix)
        dest = self.root / rel
        if dest.exists():
            Path(tmp).unlink(missing_ok=True)
            return StoredMedia(sha256, rel, size, created=False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)  # atomic on one file system
        _fsync_dir(dest.parent)
        return StoredMedia(sha256, rel, size, created=True)

    def delete_if_unreferenced(self, relpath: str, *,
                               is_referenced: Callable[[str], bool]) -> bool:
        """Remove a stored file unless something still refers to it.

        Returns:
            True if the file was removed.
        """
        if is_referenced(relpath):
            return False
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

    def clean_temp(self) -> int:
        """Remove temporary files a killed writer left behind; returns how many."""
        if not self._tmp.exists():
            return 0
        n = 0
        for p in self._tmp.iterdir():
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
