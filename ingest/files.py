"""Local files, folders and zip archives (the Upload page and ``brandmood ingest files``).

Zip archives are extracted entry by entry into the job's scratch folder, never outside
it: entries whose names escape the folder, symlinks, nested archives and entries over
the size or compression-ratio caps are refused one by one with a reason; an archive
with too many entries is refused whole.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

from ingest.base import Candidate, PostMetadata, SourceContext, SourceKind, SourceRequest
from ingest.net import VIDEO_MAX_BYTES

_ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".jar")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps that keep a zip archive from filling the disk (zip bombs)."""

    max_entries: int = 10_000
    max_entry_bytes: int = VIDEO_MAX_BYTES
    max_total_bytes: int = 2 * VIDEO_MAX_BYTES
    max_ratio: float = 200.0


def is_zip(path: Path) -> bool:
    """True if the file starts like a zip archive (whatever its name)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


@dataclass
class FileSource:
    """Files, folders (recursive, hidden files skipped) and zip archives.

    Attributes:
        names: what a given path is called in the outcomes and the store instead of the
            path itself (uploads: the user's file name, not the server's scratch copy).
    """

    paths: list[Path]
    meta: PostMetadata = field(default_factory=PostMetadata)
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    names: Mapping[Path, str] = field(default_factory=dict)
    kind: ClassVar[str] = SourceKind.FILES

    def __post_init__(self) -> None:
        self.paths = [Path(p) for p in self.paths]
        missing = [str(p) for p in self.paths if not p.exists()]
        if missing:
            raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")

    @classmethod
    def from_request(cls, request: SourceRequest) -> FileSource:
        """Files, folders and archives named by ``request.targets``.

        Raises:
            FileNotFoundError: if a path does not exist.
            ValueError: if no path is given.
        """
        if not request.targets:
            raise ValueError("give at least one file, folder or archive")
        return cls([Path(t) for t in request.targets], meta=request.meta)

    @property
    def label(self) -> str:
        return ", ".join(str(p) for p in self.paths)

    def candidates(self, ctx: SourceContext) -> Iterator[Candidate]:
        for root in self.paths:
            name = self.names.get(root)
            files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p, root)) \
                if root.is_dir() else [root]
            for path in files:
                label = str(path) if name is None else (
                    name if path == root else f"{name}/{path.relative_to(root).as_posix()}")
                if is_zip(path):
                    yield from extract_zip(path, ctx.scratch, self.limits, self.meta,
                                           label=label)
                else:
                    yield Candidate(source=label, path=path, meta=self.meta)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _entry_problem(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
    name = info.filename
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "refused: absolute path in archive"
    if ".." in pure.parts:
        return "refused: entry path escapes the extraction folder (../)"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "refused: symbolic link in archive"
    if name.lower().endswith(_ARCHIVE_SUFFIXES):
        return "refused: nested archive"
    if info.file_size > limits.max_entry_bytes:
        return f"refused: {info.file_size:,} bytes is over the {limits.max_entry_bytes:,} cap"
    if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
        return (f"refused: compression ratio {info.file_size / info.compress_size:.0f}:1 "
                "looks like a zip bomb")
    return None


def extract_zip(archive: Path, scratch: Path, limits: ArchiveLimits,
                meta: PostMetadata, *, label: str | None = None) -> Iterator[Candidate]:
    """One candidate per file entry: extracted under ``scratch`` or refused with a reason.

    Entries are called ``<label>!/<entry name>`` (``label``: the archive's path by default).
    Raises nothing for a bad archive: it becomes one failed candidate.
    """
    label = str(archive) if label is None else label
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        yield Candidate(source=label, error=f"corrupt zip archive: {exc}")
        return
    with zf:
        entries = [i for i in zf.infolist() if not i.is_dir()]
        if len(entries) > limits.max_entries:
            yield Candidate(source=label, error=(
                f"refused archive: {len(entries):,} entries is over the "
                f"{limits.max_entries:,} cap"))
            return
        target = Path(scratch) / f"zip-{abs(hash(str(archive))):x}"
        target.mkdir(parents=True, exist_ok=True)
        total = 0
        for n, info in enumerate(entries):
            source = f"{label}!/{info.filename}"
            problem = _entry_problem(info, limits)
            if problem is None and total + info.file_size > limits.max_total_bytes:
                problem = f"refused: archive expands beyond {limits.max_total_bytes:,} bytes"
            if problem:
                yield Candidate(source=source, error=problem)
                continue
            dest = target / f"{n:06d}{PurePosixPath(info.filename).suffix[:10]}"
            try:
                written = _copy_entry(zf, info, dest, limits, limits.max_total_bytes - total)
            except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
                dest.unlink(missing_ok=True)
                yield Candidate(source=source, error=f"refused: {exc}")
                continue
            total += written
            if is_zip(dest):
                dest.unlink(missing_ok=True)
                yield Candidate(source=source, error="refused: nested archive")
                continue
            yield Candidate(source=source, path=dest, meta=meta)


def _copy_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path,
                limits: ArchiveLimits, budget: int) -> int:
    """Copy one entry, counting real bytes (headers can lie); returns bytes written."""
    cap = min(limits.max_entry_bytes, budget)
    written = 0
    with zf.open(info) as src, open(dest, "wb") as out:
        while block := src.read(_CHUNK):
            written += len(block)
            if written > cap:
                raise ValueError(f"entry expands beyond {cap:,} bytes (zip bomb)")
            out.write(block)
    return written

