"""Media in S3-compatible object storage (``BRANDMOOD_MEDIA_URL=s3://bucket/prefix``).

The same content-addressed keys as the folder store (:mod:`db.media_store`), written
once: every put asks the server to refuse an existing key (``If-None-Match: *``, obstore's
``mode="create"``), so two writers of the same content cannot replace each other's
object; "already exists" counts as success once the stored object's size and sha256
match. Reads stream (``read_bytes`` for pictures; ``local_path`` downloads a video into a
temporary file for PyAV and removes it afterwards).

A store pickles to its URL and connection options (credentials included), so a Ray
worker reopens the same bucket; a worker's temporary files go to the system's temp folder.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

from db.media_store import (
    CHUNK,
    ContentWriter,
    MediaMissingError,
    MediaStoreError,
    StoredMedia,
    clean_folder,
    derived_prefix,
    relpath_for,
)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")``.

    Raises:
        MediaStoreError: for anything but an ``s3://`` URL with a bucket.
    """
    parts = urlsplit(url.strip())
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise MediaStoreError(f"media URL must look like s3://bucket/prefix, got {url!r}")
    return parts.netloc, parts.path.strip("/")


class ObjectMediaStore(ContentWriter):
    """Content-addressed objects under ``s3://bucket/prefix``.

    Args:
        url: ``s3://bucket/prefix``.
        endpoint: S3-compatible endpoint (None: AWS); ``http://`` is allowed as given.
        region: the bucket's region.
        access_key_id, secret_access_key: credentials (None: the client's other sources).
        scratch: local folder for temporary files (None: the system's temp folder; then
            :meth:`clean_temp` leaves it alone).
    """

    def __init__(self, url: str, *, endpoint: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 scratch: Path | None = None) -> None:
        from obstore.store import S3Store

        self.bucket, self.prefix = parse_s3_url(url)
        self._options = {"endpoint": endpoint, "region": region,
                         "access_key_id": access_key_id,
                         "secret_access_key": secret_access_key}
        self._scratch = Path(scratch) if scratch is not None else None
        config = {k: v for k, v in self._options.items() if v}
        if endpoint and endpoint.startswith("http://"):
            config["allow_http"] = "true"
        self._store = S3Store(self.bucket, prefix=self.prefix or None, config=config)

    def __reduce__(self):
        """Pickle as URL + options (the scratch folder stays on this machine)."""
        return (_reopen, (self.location, self._options))

    def __repr__(self) -> str:
        return f"ObjectMediaStore({self.location!r})"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def scratch_dir(self) -> Path:
        if self._scratch is None:  # a Ray worker: the system's temp folder
            return Path(tempfile.gettempdir())
        self._scratch.mkdir(parents=True, exist_ok=True)
        return self._scratch

    def adopt(self, tmp: Path, *, sha256: str, suffix: str, size: int) -> StoredMedia:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        rel = relpath_for(sha256, suffix)
        if not Path(tmp).exists():  # adopted already (a retried transaction): check it
            try:
                self._verify(rel, sha256=sha256, size=size)
            except FileNotFoundError:
                raise MediaMissingError(f"neither {tmp} nor {rel} exists") from None
            return StoredMedia(sha256, rel, size, created=False)
        try:
            obstore.put(self._store, rel, Path(tmp), mode="create")
        except (AlreadyExistsError, PreconditionError):
            self._verify(rel, sha256=sha256, size=size)
            return StoredMedia(sha256, rel, size, created=False)
        except Exception as exc:
            raise MediaStoreError(f"cannot store {rel} in {self.location}: "
                                  f"{_first_line(exc)}") from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        return StoredMedia(sha256, rel, size, created=True)

    def _verify(self, rel: str, *, sha256: str, size: int) -> None:
        """The object already at ``rel`` has exactly this content, else MediaStoreError."""
        import obstore

        meta = obstore.head(self._store, rel)
        if int(meta["size"]) != size:
            raise MediaStoreError(f"{self.location}/{rel} exists with {meta['size']} bytes, "
                                  f"not {size}: the bucket holds other content at that key")
        h = hashlib.sha256()
        for block in obstore.get(self._store, rel).stream(min_chunk_size=CHUNK):
            h.update(block)
        if h.hexdigest() != sha256:
            raise MediaStoreError(f"{self.location}/{rel} exists with another sha256")

    def exists(self, relpath: str) -> bool:
        import obstore

        try:
            obstore.head(self._store, relpath)
        except FileNotFoundError:
            return False
        return True

    def _get(self, relpath: str):
        import obstore

        try:
            return obstore.get(self._store, relpath)
        except FileNotFoundError:
            raise MediaMissingError(f"media file missing from the store: {relpath}") from None
        except Exception as exc:
            raise MediaStoreError(f"cannot read {relpath} from {self.location}: "
                                  f"{_first_line(exc)}") from None

    def read_bytes(self, relpath: str) -> bytes:
        return bytes(self._get(relpath).bytes())

    @contextmanager
    def local_path(self, relpath: str) -> Iterator[Path]:
        result = self._get(relpath)
        fd, tmp = self.temp_file()
        path = Path(tmp).with_name(Path(tmp).name + Path(relpath).suffix)
        try:
            with open(fd, "wb") as fh:
                for block in result.stream(min_chunk_size=CHUNK):
                    fh.write(block)
            Path(tmp).rename(path)
            yield path
        finally:
            Path(tmp).unlink(missing_ok=True)
            path.unlink(missing_ok=True)

    def get_derived(self, key: str) -> bytes | None:
        try:
            return self.read_bytes(key)
        except MediaMissingError:
            return None

    def put_derived(self, key: str, data: bytes) -> None:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        # made by another reader from the same source: as good as ours
        with suppress(AlreadyExistsError, PreconditionError):
            obstore.put(self._store, key, data, mode="create")

    def delete_if_unreferenced(self, relpath: str, *,
                               is_referenced: Callable[[str], bool]) -> bool:
        import obstore

        if is_referenced(relpath):
            return False
        derived = [m["path"] for batch in obstore.list(self._store, derived_prefix(relpath) + "/")
                   for m in batch]
        if derived:
            obstore.delete(self._store, derived)
        if not self.exists(relpath):
            return False
        obstore.delete(self._store, relpath)
        return True

    def delete_derived(self, relpath: str, *, starting: str = "") -> int:
        import obstore

        keys = [m["path"] for batch in obstore.list(self._store, derived_prefix(relpath) + "/")
                for m in batch if m["path"].rsplit("/", 1)[-1].startswith(starting)]
        if keys:
            obstore.delete(self._store, keys)
        return len(keys)

    def clean_temp(self) -> int:
        return 0 if self._scratch is None else clean_folder(self._scratch)


def _reopen(url: str, options: dict) -> ObjectMediaStore:
    return ObjectMediaStore(url, **options)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
