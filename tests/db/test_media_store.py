"""Content-addressed media stores (a folder, and an S3 bucket on a real S3 server): dedup,
write-once puts, atomic writes, reads through the interface, deletion once unreferenced."""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from pathlib import Path

import pytest

from db.media_store import (
    LocalMediaStore,
    MediaMissingError,
    MediaStore,
    MediaStoreError,
    derived_key,
    relpath_for,
)
from db.models import Asset, AssetKind
from db.object_store import ObjectMediaStore, parse_s3_url
from db.queries.core import delete_asset, get_or_create_brand
from db.workspace import open_media_store
from tests.s3 import ACCESS_KEY, SECRET_KEY, bucket_keys, make_bucket


def _s3_store(endpoint: str, tmp_path: Path) -> ObjectMediaStore:
    return ObjectMediaStore(f"s3://{make_bucket(endpoint)}/media", endpoint=endpoint,
                            region="us-east-1", access_key_id=ACCESS_KEY,
                            secret_access_key=SECRET_KEY, scratch=tmp_path / "scratch")


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path: Path) -> MediaStore:
    if request.param == "folder":
        return LocalMediaStore(tmp_path / "m")
    return _s3_store(request.getfixturevalue("s3_server"), tmp_path)


def _keys(store: MediaStore, endpoint: str | None, root: Path) -> list[str]:
    """What the store holds, listed without the store's own code."""
    if isinstance(store, ObjectMediaStore):
        return bucket_keys(endpoint, store.location)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and ".tmp" not in p.parts)


def test_same_bytes_stored_once(store, tmp_path: Path, media, request) -> None:
    endpoint = request.getfixturevalue("s3_server") if isinstance(store, ObjectMediaStore) \
        else None
    src = media.path("single_face.jpg")
    first = store.put_file(src)
    second = store.put_bytes(src.read_bytes(), suffix=".JPG")
    assert first.created and not second.created
    assert first.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert first.relpath == f"{first.sha256[:2]}/{first.sha256[2:4]}/{first.sha256}.jpg"
    assert store.read_bytes(first.relpath) == src.read_bytes()
    with store.local_path(first.relpath) as path:
        assert path.read_bytes() == src.read_bytes()
    assert _keys(store, endpoint, tmp_path / "m") == [first.relpath]
    assert store.exists(first.relpath) and not store.exists(relpath_for("0" * 64, ".jpg"))


def test_missing_file_is_a_clear_error(store) -> None:
    rel = relpath_for("a" * 64, ".jpg")
    with pytest.raises(MediaMissingError, match="missing"):
        store.read_bytes(rel)
    with pytest.raises(FileNotFoundError), store.local_path(rel):
        pass


def test_failed_write_leaves_no_file(store, tmp_path: Path) -> None:
    def chunks():
        yield b"x" * 1000
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.put_chunks(chunks(), suffix=".jpg")
    assert store.clean_temp() == 0  # nothing left in the scratch folder either
    assert [p for p in (tmp_path / "m").rglob("*") if p.is_file()] == []


def test_folder_writer_never_exposes_partial_content(tmp_path: Path) -> None:
    """While bytes stream in, nothing exists at the final address."""
    store = LocalMediaStore(tmp_path / "m")
    data = os.urandom(3 << 20)
    final = store.root / store.relpath_for(hashlib.sha256(data).hexdigest(), ".bin")
    seen = []

    def chunks():
        for i in range(0, len(data), 1 << 20):
            seen.append(final.exists())
            yield data[i:i + (1 << 20)]

    stored = store.put_chunks(chunks(), suffix=".bin")
    assert seen == [False, False, False]
    assert store.read_bytes(stored.relpath) == data


def test_bucket_puts_are_write_once(s3_server: str, tmp_path: Path) -> None:
    """Another object at a content address is never replaced, and is reported."""
    import obstore

    store = _s3_store(s3_server, tmp_path)
    data = os.urandom(5000)
    sha = hashlib.sha256(data).hexdigest()
    rel = relpath_for(sha, ".bin")
    obstore.put(store._store, rel, b"y" * 5000)  # someone else's bytes at that key
    with pytest.raises(MediaStoreError, match="another sha256"):
        store.put_bytes(data, suffix=".bin")
    assert store.read_bytes(rel) == b"y" * 5000  # not overwritten
    obstore.put(store._store, relpath_for("b" * 64, ".bin"), b"short")
    tmp = tmp_path / "t"
    tmp.write_bytes(b"longer content")
    with pytest.raises(MediaStoreError, match="bytes"):
        store.adopt(tmp, sha256="b" * 64, suffix=".bin", size=14)


def test_concurrent_writers_of_the_same_content_both_succeed(store) -> None:
    data = os.urandom(200_000)
    results, errors = [], []

    def put() -> None:
        try:
            results.append(store.put_bytes(data, suffix=".bin"))
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    for _ in range(5):
        threads = [threading.Thread(target=put) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert errors == [] and len(results) == 15
    assert sum(r.created for r in results) == 1  # exactly one writer created it
    assert store.read_bytes(results[0].relpath) == data


def test_derived_pictures_go_with_their_source(store, ws, media) -> None:
    stored = store.put_file(media.path("single_face.jpg"))
    key = derived_key(stored.relpath, "thumb-320.jpg")
    assert store.get_derived(key) is None
    store.put_derived(key, b"thumbnail bytes")
    store.put_derived(key, b"thumbnail bytes")  # a second maker: as good
    assert store.get_derived(key) == b"thumbnail bytes"
    assert store.delete_if_unreferenced(stored.relpath, is_referenced=lambda p: False)
    assert store.get_derived(key) is None and not store.exists(stored.relpath)


def test_a_store_pickles_for_ray_workers(store, media) -> None:
    stored = store.put_file(media.path("single_face.jpg"))
    again = pickle.loads(pickle.dumps(store))
    assert again.location == store.location
    assert again.read_bytes(stored.relpath) == media.path("single_face.jpg").read_bytes()


def test_clean_temp_removes_what_a_killed_writer_left(store) -> None:
    fd, tmp = store.temp_file()
    os.write(fd, b"half")
    os.close(fd)
    assert store.clean_temp() == 1
    assert not tmp.exists()


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd"])
def test_paths_cannot_leave_the_store(tmp_path: Path, bad: str) -> None:
    with pytest.raises(MediaStoreError):
        LocalMediaStore(tmp_path / "m").path(bad)


def test_relpath_and_derived_keys_reject_non_hashes() -> None:
    with pytest.raises(MediaStoreError):
        relpath_for("../../x", ".jpg")
    with pytest.raises(MediaStoreError):
        derived_key("ab/cd/../x.jpg", "thumb.jpg")
    with pytest.raises(MediaStoreError):
        derived_key(relpath_for("c" * 64, ".jpg"), "../x")


@pytest.mark.parametrize("bad", ["media/x", "s3://", "s3:///prefix", "https://b/x"])
def test_media_url_must_name_a_bucket(bad: str) -> None:
    with pytest.raises(MediaStoreError, match="s3://bucket/prefix"):
        parse_s3_url(bad)


def test_settings_choose_the_store(tmp_path: Path, s3_env: dict[str, str]) -> None:
    from brandmood.core.settings import load_config

    local = open_media_store(load_config({"BRANDMOOD_HOME": str(tmp_path)}))
    assert isinstance(local, LocalMediaStore) and local.root == tmp_path / "media"
    cfg = load_config({"BRANDMOOD_HOME": str(tmp_path), **s3_env})
    remote = open_media_store(cfg)
    assert isinstance(remote, ObjectMediaStore)
    assert remote.location == s3_env["BRANDMOOD_MEDIA_URL"]
    shown = cfg.as_dict()
    assert shown["aws_secret_access_key"] == "***" and SECRET_KEY not in repr(cfg)
    assert SECRET_KEY not in repr(remote)


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
        assert ws.media.exists(stored.relpath)
        assert delete_asset(session=s, asset=assets[1], store=ws.media) is True
        s.commit()
    assert not ws.media.exists(stored.relpath)


def test_delete_derived_removes_the_named_pictures_only(store, tmp_path: Path, media,
                                                        request) -> None:
    endpoint = request.getfixturevalue("s3_server") if isinstance(store, ObjectMediaStore) \
        else None
    from db.media_store import derived_key, face_crop_prefix

    stored = store.put_file(media.path("single_face.jpg"))
    crop = face_crop_prefix(0, (10.2, 20.0, 50.0, 60.0))
    for name in (f"{crop}160.jpg", f"{crop}96.jpg", "face-0-1-2-3-4-160.jpg", "thumb-320.jpg"):
        store.put_derived(derived_key(stored.relpath, name), b"x")
    assert store.delete_derived(stored.relpath, starting=crop) == 2
    left = [k.rsplit("/", 1)[-1] for k in _keys(store, endpoint, tmp_path / "m")
            if "derived/" in k]
    assert sorted(left) == ["face-0-1-2-3-4-160.jpg", "thumb-320.jpg"]
    assert store.delete_derived(stored.relpath) == 2
    assert not [k for k in _keys(store, endpoint, tmp_path / "m") if "derived/" in k]
    assert store.exists(stored.relpath)
