"""Exports blur faces by default: real photos analyzed by the real models, a real PDF, its
images extracted with pypdf and searched with MTCNN; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select, text
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.core.access import BrandScope
from brandmood.services import reports
from brandmood.services.analyze import run_analysis
from db.models import Ambassador, Asset, AssetKind, Face
from db.queries.core import get_or_create_ambassador, get_or_create_brand
from db.queries.privacy import faces_to_blur
from db.queries.selection import DashboardFilters
from db.workspace import Workspace, open_workspace
from tests.conftest import media_file

PHOTOS = ("single_face.jpg", "0-f15-hao-ph.jpg", "multi_face.jpg")


@pytest.fixture(scope="module")
def sensitive():
    """A detector more eager than the app's (smaller faces, lower score): PDF thumbnails
    are 240 px, so faces there are small."""
    from analytics.detection import MTCNNDetector

    return MTCNNDetector(min_face_size=20, score_threshold=0.7)


def analyzed_workspace(ws: Workspace, analyzer) -> dict[str, int]:
    """The photos as assets of brand Acme, analyzed; returns name → asset id."""
    ids = {}
    with ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        get_or_create_ambassador(s, brand=brand, name="Ana")
        for name in PHOTOS:
            stored = ws.media.put_file(media_file(name))
            a = Asset(brand_id=brand.id, kind=AssetKind.IMAGE, source_uri=name,
                      sha256=stored.sha256, media_path=stored.relpath)
            s.add(a)
            s.flush()
            ids[name] = a.id
    run_analysis(ws, analyzer=analyzer)
    return ids


def pdf_images(payload: bytes) -> list[np.ndarray]:
    """Every image embedded in a PDF, as RGB arrays."""
    out = []
    for page in PdfReader(io.BytesIO(payload)).pages:
        for img in page.images:
            out.append(np.asarray(Image.open(io.BytesIO(img.data)).convert("RGB")))
    return out


def faces_in(detector, images: list[np.ndarray]) -> int:
    return sum(len(d) for d in detector.detect(images))


def blur_counts(ws: Workspace, asset_ids: list[int]) -> dict[int, int]:
    with ws.session() as s:
        return {a: len(b) for a, b in faces_to_blur(session=s, asset_ids=asset_ids).items()}


def _pdf(ws: Workspace, brand_id: int, *, show_faces: bool) -> bytes:
    with ws.session() as s:
        data = reports.collect_report(
            s, filters=DashboardFilters(brand_id=brand_id, scope=BrandScope.ALL),
            media=ws.media, brand="Acme", show_faces=show_faces)
        return reports.pdf_report(data, charts=False)


def test_pdf_images_are_blurred_unless_asked(any_ws, analyzer, sensitive):
    ws = any_ws
    ids = analyzed_workspace(ws, analyzer)
    with ws.session() as s:
        brand_id = s.scalar(select(Asset.brand_id).limit(1))

    blurred = _pdf(ws, brand_id, show_faces=False)
    images = pdf_images(blurred)
    assert len(images) >= 2  # thumbnails of the top assets
    assert faces_in(sensitive, images) == 0
    shown = _pdf(ws, brand_id, show_faces=True)
    open_images = pdf_images(shown)
    assert len(open_images) == len(images)
    assert faces_in(sensitive, open_images) >= 2  # the same thumbnails, faces visible
    differ = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b
              in zip(images, open_images, strict=True)]
    assert min(differ) > 1.0

    for payload, word in ((blurred, "blurred"), (shown, "unblurred")):
        reader = PdfReader(io.BytesIO(payload))
        assert word in reader.metadata.get("/Keywords", "")
        assert word in (reader.metadata.subject or "")
        body = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
        assert f"Faces: {'shown unblurred' if word == 'unblurred' else 'blurred'}" in body

    # every stored face of the current run is to be blurred: counted independently
    with ws.engine.connect() as conn:
        rows = conn.execute(text("SELECT asset_id, x1 FROM face")).all()
    counts = blur_counts(ws, list(ids.values()))
    assert counts == {i: sum(1 for a, _ in rows if a == i) for i in ids.values()}
    assert counts[ids["multi_face.jpg"]] >= 5


def test_only_a_consenting_matched_ambassador_stays_unblurred(ws, analyzer, monkeypatch):
    ids = analyzed_workspace(ws, analyzer)
    one = ids["single_face.jpg"]
    with ws.sessions.begin() as s:
        face = s.scalar(select(Face).where(Face.asset_id == one))
        face.ambassador_id = s.scalar(select(Ambassador.id).where(Ambassador.name == "Ana"))
        face_id = face.id
    # matched, but consent records do not exist yet: blurred
    assert blur_counts(ws, [one]) == {one: 1}
    # once Ambassador has a consent record (the attribute is looked up by name), the
    # matched face is shown; a reviewer's rejection of the match blurs it again
    monkeypatch.setattr(Ambassador, "consent", property(
        lambda self: "contract-7" if self.name == "Ana" else None), raising=False)
    assert blur_counts(ws, [one]) == {one: 0}
    with ws.sessions.begin() as s:
        s.get(Face, face_id).ambassador_confirmed = False
    assert blur_counts(ws, [one]) == {one: 1}
    assert blur_counts(ws, []) == {}


@pytest.mark.slow
def test_cli_export_blurs_by_default_and_show_faces_opts_out(ws_env, tmp_path: Path, analyzer,
                                                             sensitive):
    ws = open_workspace()
    try:
        analyzed_workspace(ws, analyzer)
    finally:
        ws.close()
    runner = CliRunner()
    found = {}
    for flag in ([], ["--show-faces"]):
        out = tmp_path / f"report{len(flag)}.pdf"
        result = runner.invoke(app, ["export", "--brand", "Acme", "--format", "pdf",
                                     "--out", str(out), *flag])
        assert result.exit_code == 0, result.output
        found[bool(flag)] = faces_in(sensitive, pdf_images(out.read_bytes()))
        keywords = PdfReader(out).metadata.get("/Keywords", "")
        assert ("unblurred" in keywords) == bool(flag)
    assert found == {False: 0, True: found[True]} and found[True] >= 2
