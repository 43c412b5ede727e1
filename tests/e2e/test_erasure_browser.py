"""Erasure end to end in a real headless Chromium: ``brandmood serve`` on the filled
workspace, the local admin erases the ambassador Ana on the Ambassadors page (typing her
name to confirm), and then neither the page nor the faces CSV nor the PDF report holds her
name, her id or her faces."""

from __future__ import annotations

import csv
import io
import os
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select, text, update

from brandmood.core.settings import load_config
from db.models import Ambassador, Face
from db.workspace import open_workspace
from tests.e2e.test_dashboard_browser import _db, _download, _open, _settle
from tests.pages.fill import fill

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ANA_BAR = re.compile(r">Ana( \(n=\d+\))?<")
"""Ana's bar label in the page's charts (SVG text)."""


def _filled_home(tmp_path, media) -> tuple[int, set[int]]:
    """The filled workspace in the folder ``serve()`` uses first; the faces of Ana's posts
    are recognized as her (confirmed). Returns her id and her faces' ids."""
    ws = open_workspace(load_config({**os.environ, "BRANDMOOD_HOME": str(tmp_path / "ws0"),
                                     "BRANDMOOD_DATABASE_URL": ""}))
    try:
        ids = fill(ws, media)
        with ws.sessions.begin() as s:
            ana = s.scalar(select(Ambassador.id).where(Ambassador.name == "Ana"))
            assets = [ids["single_face.jpg"], ids["0-f15-hao-ph.jpg"]]
            s.execute(update(Face).where(Face.asset_id.in_(assets))
                      .values(ambassador_id=ana, ambassador_confirmed=True))
            faces = set(s.scalars(select(Face.id).where(Face.ambassador_id == ana)))
    finally:
        ws.close()
    return ana, faces


def test_erase_an_ambassador_from_the_page(serve, browser_page, media, tmp_path):
    ana, faces = _filled_home(tmp_path, media)
    assert faces
    url, home = serve()
    page = browser_page
    _open(page, url, "ambassadors", "Erase an ambassador")
    assert ANA_BAR.search(page.content()), "Ana's bar is on the page before erasure"
    page.get_by_text("Erase an ambassador for good").click()
    box = page.get_by_role("textbox", name="Type the ambassador's name to confirm")
    box.fill("Ana")
    box.press("Enter")
    _settle(page)
    page.get_by_role("button", name="Erase for good").click()
    page.get_by_text("Erased. Receipt").wait_for(timeout=120_000)
    _settle(page)
    html = page.content()
    assert not ANA_BAR.search(html), "no chart shows Ana after erasure"
    assert page.get_by_text("Traceback").count() == 0
    with _db(home).connect() as conn:
        names = conn.execute(text("SELECT name FROM ambassador")).scalars().all()
        assert names == ["Ben"]
        assert conn.execute(text("SELECT kind FROM erasure_log")).scalars().all() == ["ambassador"]

    _open(page, url, "reports", "Exports contain")
    page.get_by_role("button", name="Prepare Faces (CSV)").click()
    data = _download(page, "Download faces.csv").decode()
    rows = list(csv.DictReader(io.StringIO(data)))
    assert rows, "the other faces are exported"
    assert not {int(r["face_id"]) for r in rows} & faces
    assert str(ana) not in {r["ambassador_id"] for r in rows} and "Ana" not in data
    page.get_by_role("button", name="Prepare PDF brand report").click()
    pdf = PdfReader(io.BytesIO(_download(page, "Download brandmood-report.pdf")))
    body = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert "Brand emotion report: Acme" in body
    assert not re.search(r"\bAna\b", body)
