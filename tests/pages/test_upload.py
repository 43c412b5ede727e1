"""Upload page: a real photo is stored and analyzed, and its faces shown; refusals named."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from brandmood.ui.jobs_views import engine_missing
from tests.pages.conftest import run_page

MISSING = engine_missing()


def test_upload_form_renders(empty_home):
    at = run_page("upload.py")
    assert at.text_input(key="up_brand").value == ""
    assert at.text_input(key="up_channel").value == "upload:dashboard"
    submit = at.get("button")[-1] if at.get("button") else None
    if MISSING:
        assert any("not available" in w.value for w in at.warning)
        assert submit is None or submit.proto.disabled
    assert any("Drop images" in i.value for i in at.info)


@pytest.mark.skipif(MISSING is not None, reason=f"ingest/analysis jobs not available: {MISSING}")
def test_upload_real_photo_and_a_refused_file(empty_home, media):
    at = run_page("upload.py")
    at.text_input(key="up_brand").set_value("Acme")
    uploader = at.get("file_uploader")[0]
    uploader.upload("single_face.jpg", media.path("single_face.jpg").read_bytes(), "image/jpeg")
    uploader.upload("notes.jpg", b"this is not an image", "image/jpeg")
    at.get("form_submit_button")[0].click() if at.get("form_submit_button") else None
    at.run(timeout=300)
    assert not at.exception, [e.value for e in at.exception]
    assert any("stored and analyzed" in s.value for s in at.success)
    assert any("notes.jpg" in e.value for e in at.error), [e.value for e in at.error]
    from brandmood.core.settings import load_config
    from db.workspace import open_workspace

    ws = open_workspace(load_config())
    with ws.engine.connect() as conn:
        faces = conn.execute(text("SELECT count(*) FROM face")).scalar()
    ws.close()
    assert faces >= 1
    table = at.dataframe[0].value
    assert len(table) == faces
