"""The pinned photos of known people: fetched through pip from an index (a local one here),
sha256-checked, cached, single files extracted; the real archive from the cache."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandmood.core.fetch import AssetError, Sdist, ensure_package, package_member, sha256_file
from brandmood.core.media_sources import (
    FACE_RECOGNITION_FILES,
    FACE_RECOGNITION_SDIST,
    face_recognition_image,
)

NAME, VERSION = "bmtestmedia", "0.1"
FILENAME = f"{NAME}-{VERSION}.tar.gz"


def _sdist() -> bytes:
    """A small source archive with a setup.py and one 'photo'."""
    buf = io.BytesIO()
    files = {"setup.py": b"from setuptools import setup\nsetup(name='bmtestmedia', "
                         b"version='0.1')\n",
             "PKG-INFO": b"Metadata-Version: 2.1\nName: bmtestmedia\nVersion: 0.1\n",
             "tests/test_images/face.jpg": b"\xff\xd8 not really a jpeg"}
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{NAME}-{VERSION}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class IndexServer:
    """A package index on 127.0.0.1 (PEP 503 simple pages) holding one source archive;
    ``hits`` counts the archive's downloads."""

    def __init__(self, body: bytes) -> None:
        self.hits = 0
        sha = hashlib.sha256(body).hexdigest()
        page = (f'<html><body><a href="/files/{FILENAME}#sha256={sha}">{FILENAME}</a>'
                "</body></html>").encode()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") == f"/simple/{NAME}":
                    data, kind = page, "text/html"
                elif self.path == f"/files/{FILENAME}":
                    server.hits += 1
                    data, kind = body, "application/gzip"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/simple/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def index(monkeypatch) -> Iterator[tuple[IndexServer, bytes]]:
    """pip pointed at a local index only (no config file, no other index or links)."""
    body = _sdist()
    server = IndexServer(body)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", server.url)
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "20")
    for var in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_CONSTRAINT"):
        monkeypatch.delenv(var, raising=False)
    yield server, body
    server.close()


def test_a_pinned_archive_is_downloaded_once_checked_and_its_files_extracted(
        index, tmp_path: Path):
    server, body = index
    pinned = Sdist(NAME, VERSION, FILENAME, hashlib.sha256(body).hexdigest())
    path = ensure_package(pinned, cache=tmp_path)
    assert path == tmp_path / "wheels" / FILENAME and path.read_bytes() == body
    assert server.hits == 1
    member = package_member(pinned, "tests/test_images/face.jpg", cache=tmp_path)
    assert member.read_bytes() == b"\xff\xd8 not really a jpeg"
    assert ensure_package(pinned, cache=tmp_path) == path
    assert package_member(pinned, "tests/test_images/face.jpg", cache=tmp_path) == member
    assert server.hits == 1  # from the cache afterwards


def test_an_archive_that_is_not_the_pinned_one_is_refused(index, tmp_path: Path):
    server, _ = index
    wrong = Sdist(NAME, VERSION, FILENAME, "0" * 64)
    with pytest.raises(AssetError, match="does not match the pinned"):
        ensure_package(wrong, cache=tmp_path)
    assert server.hits == 1
    with pytest.raises(AssetError, match="does not match the pinned"):  # nor from the cache
        package_member(wrong, "tests/test_images/face.jpg", cache=tmp_path)


def test_the_real_archive_is_the_pinned_one_and_holds_the_photos():
    from analytics.images import load_image

    archive = ensure_package(FACE_RECOGNITION_SDIST)  # fetched once into the cache
    assert sha256_file(archive) == FACE_RECOGNITION_SDIST.sha256
    for name in FACE_RECOGNITION_FILES:
        path = face_recognition_image(name)
        assert path.parent.name == "test_images"
        image = load_image(path)
        assert image.ndim == 3 and min(image.shape[:2]) >= 400  # full photos, not crops
    with pytest.raises(ValueError, match="obama"):
        face_recognition_image("32bit.png")  # the obama2 photo again: not offered
