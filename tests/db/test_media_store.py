"""Content-addressed media store: dedup, atomic writes, deletion once unreferenced."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from db.media_store import MediaStore, MediaStoreError
from db.models import Asset, AssetKind
from db.queries.core import delete_asset, get_or_create_brand


def test_same_bytes_stored_once(tmp_path: Path, media) -> None:
    store = MediaStore(tmp_path / "m")
    src = media.path("single_face.jpg")
    first = store.put_file(src)
    second = store.put_bytes(src.read_bytes(), suffix=".JPG")
    assert first.created and not second.created
    assert first.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert first.relpath == f"{first.sha256[:2]}/{first.sha256[2:4]}/{first.sha256}.jpg"
    assert store.path(first.relpath).read_bytes() == src.read_bytes()
    files = [p for p in (tmp_path / "m").rglob("*") if p.is_file()]
    assert len(files) == 1


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "m")

    def chunks():
        yield b"x" * 1000
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.put_chunks(chunks(), suffix=".jpg")
    leftovers = [p for p in (tmp_path / "m").rglob("*") if p.is_file()]
    assert leftovers == []


def test_writer_never_exposes_partial_content(tmp_path: Path) -> None:
    """While bytes stream in, nothing exists at the final address."""
    store = MediaStore(tmp_path / "m")
    data = os.urandom(3 << 20)
    final = store.root / store.relpath_for(hashlib.sha256(data).hexdigest(), ".bin")
    seen = []

    def chunks():
        for i in range(0, len(data), 1 << 20):
            seen.append(final.exists())
            yield data[i:i + (1 << 20)]

    stored = store.put_chunks(chunks(), suffix=".bin")
    assert seen == [False, False, False]
    assert store.path(stored.relpath).read_bytes() == data


def test_clean_temp_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "m")
    fd, tmp = store.temp_file()
    os.write(fd, b"half")
    os.close(fd)
    assert store.clean_temp() == 1
    assert not tmp.exists()


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd"])
def test_paths_cannot_leave_the_store(tmp_path: Path, bad: str) -> None:
    with pytest.raises(MediaStoreError):
        MediaStore(tmp_path / "m").path(bad)


def test_relpath_rejects_non_hashes() -> None:
    with pytest.raises(MediaStoreError):
        MediaStore.relpath_for("../../x", ".jpg")


def test_delete_asset_removes_file_only_when_unreferenced(ws, media) -> None:
    stored = ws.media.put_file(media.path("single_face.jpg"))
    with ws.session() as s:
        a = get_or_create_brand(s, name="A")
        b = get_or_create_brand(s, name="B")
        assets = [Asset(brand_id=br.id, kind=AssetKind.IMAGE, source_uri="x", sha256=stored.sha256,
                        media_path=stored.relpath) for br in (a, b)]
        s.add_all(assets)
        s.commit()
        assert delete_asset(session=s, asset=assets[0], store=ws.media) is False
        assert ws.media.path(stored.relpath).exists()
        assert delete_asset(session=s, asset=assets[1], store=ws.media) is True
        s.commit()
    assert not ws.media.path(stored.relpath).exists()
