"""Media only in an S3 bucket (a real S3 server on 127.0.0.1, no local media folder):
ingest, the local analysis, the dashboard's thumbnails, frames and review crops, and the
PDF report all read and write through the bucket."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from brandmood.core.access import BrandScope
from brandmood.core.settings import load_config
from brandmood.services import reports
from brandmood.services.analyze import run_analysis
from db.models import Asset, AssetStatus
from db.object_store import ObjectMediaStore
from db.queries.selection import DashboardFilters
from db.workspace import open_workspace
from ingest.base import SourceRequest
from ingest.jobs import JobOptions, run_source
from ingest.sources import build_source
from tests.pages.conftest import Filled, run_page
from tests.pages.fill import fill
from tests.s3 import bucket_keys


@pytest.fixture
def filled_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, media,
              s3_env: dict[str, str]) -> Iterator[Filled]:
    """The dashboard tests' filled workspace, its media in a bucket; the env points at it."""
    home = tmp_path / "ws"
    monkeypatch.setenv("BRANDMOOD_HOME", str(home))
    monkeypatch.delenv("BRANDMOOD_DATABASE_URL", raising=False)
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    ws = open_workspace(load_config())
    assert isinstance(ws.media, ObjectMediaStore)
    ids = fill(ws, media)
    yield Filled(ws, ids, home)
    ws.close()


def _media_paths(ws) -> set[str]:
    with ws.session() as s:
        return set(s.scalars(select(Asset.media_path)))


def test_ingest_and_analysis_with_media_only_in_the_bucket(s3_ws, media, tmp_path, s3_server):
    ws = s3_ws  # SQLite and PostgreSQL
    folder = tmp_path / "upload"
    folder.mkdir()
    for name in ("single_face.jpg", "multi_face.jpg", "single_face.mp4"):
        (folder / name).write_bytes(media.path(name).read_bytes())
    (folder / "copy.jpg").write_bytes(media.path("single_face.jpg").read_bytes())
    source = build_source("files", SourceRequest((str(folder),)))
    ingested = run_source(ws, source, brand="Acme", opts=JobOptions(workers=2))
    assert (ingested.stored, ingested.duplicate, ingested.failed) == (3, 1, 0)
    keys = bucket_keys(s3_server, ws.media.location)
    assert set(keys) == _media_paths(ws) and len(keys) == 3  # the copy is stored once
    summary = run_analysis(ws)
    assert (summary.analyzed, summary.failed) == (3, 0)
    by_name = {Path(i.source).name: i.asset_id for i in ingested.items if i.asset_id}
    faces = {i.asset_id: i.n_faces for i in summary.items}
    assert faces[by_name["single_face.jpg"]] == 1 and faces[by_name["multi_face.jpg"]] >= 5
    assert faces[by_name["single_face.mp4"]] == 3  # the video, through a temp download
    assert not (ws.config.home / "media").exists()  # nothing stored locally
    assert not [p for p in (ws.config.home / ".scratch").rglob("*") if p.is_file()]


def test_dashboard_thumbnails_frames_and_crops_come_from_the_bucket(filled_s3, s3_server):
    ws, ids = filled_s3.ws, filled_s3.ids
    assert not (filled_s3.home / "media").exists()
    at = run_page("assets.py")
    assert len(at.get("image")) >= 4, "thumbnails not drawn"
    assert not [w.value for w in at.warning if "unreadable" in w.value]
    keys = bucket_keys(s3_server, ws.media.location)
    thumbs = [k for k in keys if k.startswith("derived/") and k.endswith("/thumb-320.jpg")]
    assert len(thumbs) >= 4  # kept beside their sources for the next view
    video = run_page("assets.py", query={"asset": str(ids["video"])})
    assert video.get("image"), "no frame preview from the bucket"
    assert not video.error
    review = run_page("review.py")
    assert review.get("image") and not review.error, "no face crop from the bucket"
    crops = [k for k in bucket_keys(s3_server, ws.media.location) if "/face-" in k]
    assert crops


def test_pdf_report_pictures_come_from_the_bucket(filled_s3):
    ws, ids = filled_s3.ws, filled_s3.ids
    with ws.session() as s:
        data = reports.collect_report(s, filters=DashboardFilters(brand_id=ids["brand"],
                                                                scope=BrandScope.ALL),
                                      media=ws.media, brand="Acme")
        pdf = PdfReader(io.BytesIO(reports.pdf_report(data, charts=False)))
        tops = len({a for items in data.top_assets.values() for a, _, _ in items})
        failed = s.get(Asset, ids["failed_asset"]).status
    assert failed is AssetStatus.FAILED and tops >= 3
    # every top asset's thumbnail (the PDF holds each picture once, however often shown)
    assert sum(len(p.images) for p in pdf.pages) == tops
