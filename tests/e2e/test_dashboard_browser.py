"""End to end in a real headless Chromium: serve, upload a photo, see faces, review, export.

Starts ``brandmood serve`` on a free port with a fresh workspace, drives Debian's
Chromium with Playwright (fixtures in conftest.py), and saves a screenshot of every page
in ``artifacts/screenshots/``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import choose_files

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
PAGES = ("overview", "campaigns", "channels", "ambassadors", "ambassador_faces", "assets",
         "upload", "review", "agreement", "reports", "jobs", "members", "settings")

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]


def _settle(page) -> None:
    """Wait until the script run is over and charts and images have drawn."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
    for sel in ('[data-testid="stPlotlyChart"]', '[data-testid="stImage"] img'):
        for i in range(page.locator(sel).count()):
            page.locator(sel).nth(i).wait_for(state="visible")
    page.wait_for_timeout(700)


def _open(page, url: str, name: str, ready: str) -> None:
    page.goto(f"{url}/{'' if name == 'overview' else name}")
    page.get_by_text(ready, exact=False).first.wait_for()
    _settle(page)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _db(home: Path):
    return create_engine(f"sqlite:///{home / 'brandmood.db'}")


def _download(page, button: str) -> bytes:
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=button).click()
    return Path(info.value.path()).read_bytes()


def _reviewer(page, name: str) -> None:
    """Type the reviewer's name on the Review page (no sign-in) and wait for the page."""
    box = page.get_by_label("Your name", exact=False)
    box.fill(name)
    box.press("Enter")
    page.get_by_text(f"You ({name}) have labelled").wait_for()
    _settle(page)


def test_upload_review_export_in_chromium(server, browser_page, media):
    from pypdf import PdfReader

    url, home = server
    page = browser_page
    _open(page, url, "overview", "No data yet")
    _shot(page, "overview-empty")

    # Upload a real photo: stored at once and its analysis queued. The page returns while
    # the job is unfinished (it shows the job's progress, which it draws only then); the
    # user goes to another page and back, and the faces appear when the worker that
    # `brandmood serve` started has analyzed the photo.
    _open(page, url, "upload", "Drop images")
    page.get_by_role("textbox", name="Brand").fill("Acme")
    choose_files(page, media.path("single_face.jpg"))
    page.get_by_role("button", name="Upload and analyze").click()
    # "Job #1 …" (queued, or analyzing if the worker claimed it at once): the page returned
    # before the analysis was done (its progress, with "You can leave this page", is
    # redrawn until the worker is done, which may already be the case a moment later, so
    # that caption is not counted here)
    page.get_by_text("Job #1").first.wait_for(timeout=120_000)
    _shot(page, "upload-queued")
    page.get_by_role("link", name="Jobs").click()
    page.get_by_text("Ingest runs").wait_for()
    assert page.get_by_text("Queue", exact=True).count() == 1
    page.get_by_role("link", name="Upload").click()
    page.get_by_text("stored and analyzed").wait_for(timeout=180_000)
    _settle(page)
    _shot(page, "upload-done")
    with _db(home).connect() as conn:
        job = conn.execute(text("SELECT kind, status, attempts FROM job")).one()
    assert tuple(job) == ("upload", "done", 1)
    with _db(home).connect() as conn:
        faces = conn.execute(text("SELECT id, dominant FROM face ORDER BY id")).all()
    assert faces, "the upload found no face in single_face.jpg"

    # Its faces on the Assets page.
    _open(page, url, "assets", "assets match")
    page.get_by_role("button", name="Open #1").click()
    page.get_by_text("Asset #1").wait_for()
    page.get_by_text(f"{len(faces)} faces").first.wait_for()
    _settle(page)
    _shot(page, "asset-detail")

    # Two reviewers, two reviews per face: ana relabels the face (a label other than the
    # model's), bo is still shown it and confirms the model's label, so it is disputed.
    with _db(home).begin() as conn:
        conn.execute(text("INSERT INTO setting (key, value) VALUES ('reviews_per_face', '2')"))
    _open(page, url, "review", "Model says")
    _reviewer(page, "ana")
    new = "sad" if faces[0][1] != "sad" else "happy"
    page.get_by_role("button", name=new, exact=False).first.click()
    page.get_by_text(f"saved as {new}").wait_for()
    _reviewer(page, "bo")
    page.get_by_text(f"face #{faces[0][0]} ").first.wait_for()  # bo sees it: 1 review of 2
    assert page.get_by_text("saved as").count() == 0  # and nothing of ana's label
    page.get_by_role("button", name="Confirm", exact=False).click()
    page.get_by_text(f"saved as {faces[0][1]}").wait_for()
    with _db(home).connect() as conn:
        rows = conn.execute(text("SELECT face_id, reviewer, label FROM review")).all()
    assert {(faces[0][0], "ana", new), (faces[0][0], "bo", faces[0][1])} <= {
        tuple(r) for r in rows}
    _open(page, url, "agreement", "Krippendorff")
    disputed = page.get_by_test_id("stMetric").filter(has_text="Disputed")
    assert disputed.inner_text().split()[-1] == "1"  # the one face both reviewed
    assert page.get_by_text("ana", exact=True).count() >= 1  # the pair ana / bo
    _shot(page, "agreement-two-reviewers")

    # Export CSV and PDF and read them back.
    _open(page, url, "reports", "Exports contain")
    page.get_by_role("button", name="Prepare Faces (CSV)").click()
    data = _download(page, "Download faces.csv")
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == len(faces)
    assert {int(r["face_id"]) for r in rows} == {f[0] for f in faces}
    page.get_by_role("button", name="Prepare PDF brand report").click()
    pdf = PdfReader(io.BytesIO(_download(page, "Download brandmood-report.pdf")))
    body = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert "Brand emotion report: Acme" in body
    assert "Methodology and limitations" in body
    _settle(page)
    _shot(page, "reports-done")

    # A screenshot of every page.
    ready = {"overview": "Overview", "assets": "assets match", "upload": "Drop images",
             "review": "have labelled", "agreement": "Krippendorff",
             "reports": "Exports contain", "jobs": "Ingest runs", "settings": "Workspace"}
    for name in PAGES:
        _open(page, url, name, ready.get(name, name.replace("_", " ").capitalize()))
        assert page.get_by_text("Traceback").count() == 0, name
        # app.py's notes are comments: Streamlit's magic wrote bare strings on every page
        assert page.get_by_text("Page file, title, icon").count() == 0, name
        _shot(page, name)
    assert {p.stem for p in SHOTS.glob("*.png")} >= set(PAGES)
