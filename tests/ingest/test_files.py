"""Local files, folders and zip archives, through the real job and store."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from db.models import (
    Ambassador,
    Asset,
    AssetKind,
    AssetPost,
    Campaign,
    Channel,
    IngestItem,
    Outcome,
    Platform,
    RunStatus,
)
from db.queries import ingest as q
from ingest.base import PostMetadata
from ingest.files import ArchiveLimits, FileSource
from ingest.jobs import JobOptions, run_source


def _count(ws, model) -> int:
    with ws.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def _reconciles(ws, summary) -> None:
    """Every candidate has exactly one outcome row, and the counts agree."""
    with ws.session() as s:
        counts = q.run_counts(s, run_id=summary.run_id)
        items = q.run_items(s, run_id=summary.run_id)
    assert counts == {Outcome.STORED: summary.stored, Outcome.DUPLICATE: summary.duplicate,
                      Outcome.FAILED: summary.failed}
    assert len(items) == len(summary.items) == sum(counts.values())
    assert sorted(i.source for i in items) == sorted(i.source for i in summary.items)
    assert all(i.reason for i in items if i.outcome is Outcome.FAILED)


def test_folder_with_assignment(ws, media, tmp_path: Path) -> None:
    folder = tmp_path / "upload"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(media.path("single_face.jpg"), folder / "a.jpg")
    shutil.copy(media.path("single_face.mp4"), folder / "sub" / "b.mp4")
    (folder / ".hidden.jpg").write_bytes(b"not looked at")
    meta = PostMetadata.assigned(campaign="Spring", channel="upload:web", ambassador="@maya")
    summary = run_source(ws, FileSource([folder], meta=meta), brand="Acme")
    assert (summary.stored, summary.duplicate, summary.failed) == (2, 0, 0)
    _reconciles(ws, summary)
    with ws.session() as s:
        assets = s.scalars(select(Asset).order_by(Asset.id)).all()
        assert [a.kind for a in assets] == [AssetKind.IMAGE, AssetKind.VIDEO]
        assert {a.campaign.name for a in assets} == {"Spring"}
        assert {(a.channel.platform, a.channel.handle) for a in assets} == \
            {(Platform.UPLOAD, "web")}
        assert {a.ambassador.handles[0] for a in assets} == {"@maya"}
        assert assets[1].duration_s > 2 and assets[1].fps > 20
        for a in assets:
            stored = ws.media.path(a.media_path)
            assert stored.read_bytes()[:4] == (folder / ("a.jpg" if a.kind is AssetKind.IMAGE
                                                         else "sub/b.mp4")).read_bytes()[:4]
        assert s.scalar(select(func.count()).select_from(Campaign)) == 1
        assert s.scalar(select(func.count()).select_from(Channel)) == 1
        assert s.scalar(select(func.count()).select_from(Ambassador)) == 1
        assert q.list_runs(s)[0].status is RunStatus.DONE


def test_exact_duplicates_stored_once_and_linked(ws, media, tmp_path: Path) -> None:
    for name in ("one.jpg", "two.jpg"):
        shutil.copy(media.path("multi_face.jpg"), tmp_path / name)
    summary = run_source(ws, FileSource([tmp_path / "one.jpg", tmp_path / "two.jpg"]), brand="A")
    assert (summary.stored, summary.duplicate) == (1, 1)
    assert _count(ws, Asset) == 1 and _count(ws, AssetPost) == 2
    again = run_source(ws, FileSource([tmp_path / "one.jpg", tmp_path / "two.jpg"]), brand="A")
    assert (again.stored, again.duplicate, again.failed) == (0, 2, 0)
    assert {i.reason for i in again.items} == {"already ingested from this source"}
    assert _count(ws, Asset) == 1 and _count(ws, AssetPost) == 2
    other = run_source(ws, FileSource([tmp_path / "one.jpg"]), brand="B")  # per brand
    assert other.stored == 1 and _count(ws, Asset) == 2
    _reconciles(ws, again)


def test_near_duplicate_is_flagged(ws, media, tmp_path: Path) -> None:
    with Image.open(media.path("single_face.jpg")) as img:
        img.resize((img.width // 2, img.height // 2)).save(tmp_path / "repost.jpg", quality=70)
    summary = run_source(ws, FileSource([media.path("single_face.jpg"), tmp_path / "repost.jpg",
                                         media.path("free-mountain-vector-01.jpg")]), brand="A")
    assert summary.stored == 3
    with ws.session() as s:
        by_name = {Path(a.source_uri).name: a for a in s.scalars(select(Asset))}
    first, repost = by_name["single_face.jpg"], by_name["repost.jpg"]
    # downloads finish in any order: whichever was stored second points at the other
    later, earlier = (repost, first) if repost.id > first.id else (first, repost)
    assert later.near_duplicate_of == earlier.id and earlier.near_duplicate_of is None
    assert by_name["free-mountain-vector-01.jpg"].near_duplicate_of is None
    flagged = [i for i in summary.items if i.reason and "near-duplicate" in i.reason]
    assert [i.asset_id for i in flagged] == [later.id]


def test_bad_files_fail_one_by_one(ws, media, tmp_path: Path) -> None:
    data = media.path("single_face.jpg").read_bytes()
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "page.jpg").write_bytes(b"<html><body>404</body></html>")
    shutil.copy(media.path("single_face.jpg"), tmp_path / "good.jpg")
    summary = run_source(ws, FileSource([tmp_path]), brand="A")
    reasons = {Path(i.source).name: i.reason for i in summary.items}
    assert summary.stored == 1 and summary.failed == 3
    assert "truncated" in reasons["cut.jpg"]
    assert "empty" in reasons["empty.jpg"]
    assert "HTML" in reasons["page.jpg"]
    _reconciles(ws, summary)
    assert _count(ws, Asset) == 1


def _zip_with_everything(path: Path, media) -> None:
    good = media.path("single_face.jpg").read_bytes()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("photos/good.jpg", good)
        zf.writestr("../escape.jpg", good)
        zf.writestr("/abs/evil.jpg", good)
        link = zipfile.ZipInfo("photos/link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        inner = path.with_name("inner.zip")
        with zipfile.ZipFile(inner, "w") as iz:
            iz.writestr("x.jpg", good)
        zf.write(inner, "nested/inner.zip")
        zf.writestr("nested/disguised.jpg", inner.read_bytes())
        zf.writestr("bomb.jpg", b"\xff\xd8\xff" + b"\x00" * (40 << 20))  # 40 MB of zeros


def test_zip_archive_entries_refused_with_reasons(ws, media, tmp_path: Path) -> None:
    archive = tmp_path / "campaign.zip"
    _zip_with_everything(archive, media)
    summary = run_source(ws, FileSource([archive]), brand="A")
    by_entry = {i.source.split("!/", 1)[1]: i for i in summary.items}
    assert set(by_entry) == {"photos/good.jpg", "../escape.jpg", "/abs/evil.jpg",
                             "photos/link.jpg", "nested/inner.zip", "nested/disguised.jpg",
                             "bomb.jpg"}
    assert by_entry["photos/good.jpg"].outcome is Outcome.STORED
    assert "escapes" in by_entry["../escape.jpg"].reason
    assert "absolute" in by_entry["/abs/evil.jpg"].reason
    assert "symbolic link" in by_entry["photos/link.jpg"].reason
    assert "nested archive" in by_entry["nested/inner.zip"].reason
    assert "nested archive" in by_entry["nested/disguised.jpg"].reason
    assert "zip bomb" in by_entry["bomb.jpg"].reason
    assert (summary.stored, summary.failed) == (1, 6)
    assert not (tmp_path.parent / "escape.jpg").exists()
    assert not list((ws.media.root / ".tmp").glob("job-*"))  # scratch removed
    _reconciles(ws, summary)


def test_zip_caps_on_real_bytes_and_entry_count(ws, media, tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n in range(3):
            zf.writestr(f"{n}.jpg", media.path("single_face.jpg").read_bytes())
    summary = run_source(ws, FileSource([archive], limits=ArchiveLimits(max_entries=2)),
                         brand="A")
    assert len(summary.items) == 1 and "3 entries" in summary.items[0].reason
    size = media.path("single_face.jpg").stat().st_size
    capped = run_source(ws, FileSource([archive], limits=ArchiveLimits(max_total_bytes=size * 2)),
                        brand="A")
    assert [i.outcome for i in capped.items] == [Outcome.STORED, Outcome.DUPLICATE,
                                                 Outcome.FAILED]
    assert "expands beyond" in capped.items[2].reason


def test_dry_run_writes_nothing(ws, media, tmp_path: Path) -> None:
    summary = run_source(ws, FileSource([media.path("single_face.jpg")]), brand="A",
                         opts=JobOptions(dry_run=True))
    assert summary.dry_run and summary.stored == 1 and summary.run_id is None
    assert _count(ws, Asset) == 0 and _count(ws, IngestItem) == 0
    assert not [p for p in ws.media.root.rglob("*") if p.is_file()]


def test_ingest_on_both_backends(any_ws, media, tmp_path: Path) -> None:
    shutil.copy(media.path("single_face.jpg"), tmp_path / "a.jpg")
    shutil.copy(media.path("single_face.jpg"), tmp_path / "b.jpg")
    shutil.copy(media.path("no_face.mp4"), tmp_path / "c.mp4")
    meta = PostMetadata.assigned(campaign="C", channel="instagram:@a", ambassador="@x")
    summary = run_source(any_ws, FileSource([tmp_path / n for n in ("a.jpg", "b.jpg", "c.mp4")],
                                            meta=meta), brand="A")
    assert (summary.stored, summary.duplicate, summary.failed) == (2, 1, 0)
    _reconciles(any_ws, summary)
    assert _count(any_ws, AssetPost) == 3
