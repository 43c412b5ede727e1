"""The Ambassador faces page (Streamlit AppTest) on a real analyzed and matched workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from brandmood.core.settings import load_config
from db.models import Face
from db.workspace import open_workspace
from tests.conftest import media_file

PAGE = Path(__file__).resolve().parents[3] / "pages" / "ambassador_faces.py"


@pytest.fixture
def matched(tmp_path, monkeypatch, detector, embedder, video_frames):
    from brandmood.services.analyze import run_analysis
    from brandmood.services.identity import enroll, match_faces
    from db.queries.core import get_or_create_brand
    from ingest.files import FileSource
    from ingest.jobs import run_source

    monkeypatch.setenv("BRANDMOOD_HOME", str(tmp_path / "ws"))
    monkeypatch.delenv("BRANDMOOD_DATABASE_URL", raising=False)
    ws = open_workspace(load_config())
    with ws.sessions.begin() as s:
        get_or_create_brand(s, name="Acme")
    run_source(ws, FileSource([media_file("single_face.mp4"), media_file("multi_face.jpg")]),
               brand="Acme")
    run_analysis(ws)
    from db.queries.consent import Consent

    enroll(ws, brand="Acme", name="Ana", images=[("f0", video_frames[0])], detector=detector,
           embedder=embedder, consent=Consent("Ana", "contract 7"))
    match_faces(ws, brand="Acme", embedder=embedder)
    yield ws
    ws.close()


def test_page_lists_matches_and_a_reject_is_stored(matched):
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["ambassador"]) == ["Ana"] and int(table["references"][0]) == 1
    text = " ".join(m.value for m in at.markdown)
    assert "distance **0." in text and "machine match" in text
    with matched.session() as s:
        first = s.scalars(select(Face).where(Face.ambassador_id.is_not(None))
                          .order_by(Face.ambassador_distance, Face.id)).first()
    at.button(key=f"no{first.id}").click().run()
    assert not at.exception
    with matched.session() as s:
        assert s.get(Face, first.id).ambassador_confirmed is False


def test_page_follows_the_configured_embedder(matched, monkeypatch):
    """An uncalibrated embedder is named with a warning, and its slider is not dlib's."""
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception and not at.warning
    assert at.slider[0].value == pytest.approx(0.35) and "dlib-resnet-v1" in at.slider[0].label
    monkeypatch.setenv("BRANDMOOD_EMBEDDER", "facenet-vggface2")
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception
    assert any("no calibrated threshold" in w.value for w in at.warning)
    assert "facenet-vggface2" in at.slider[0].label
