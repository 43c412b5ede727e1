"""Upload page: real photos stored and analyzed, faces shown, refusals named by the user's
file names (never the server's scratch copies), counts in the right number."""

from __future__ import annotations

from sqlalchemy import text

from brandmood.core.settings import load_config
from brandmood.ui.jobs_views import count
from db.workspace import open_workspace
from tests.pages.conftest import run_page


def _upload(at, files: list[tuple[str, bytes, str]], *, channel: str | None = None) -> None:
    at.text_input(key="up_brand").set_value("Acme")
    if channel is not None:
        at.text_input(key="up_channel").set_value(channel)
    uploader = at.get("file_uploader")[0]
    for name, data, mime in files:
        uploader.upload(name, data, mime)
    (submit,) = at.get("form_submit_button")
    submit.click()
    at.run(timeout=300)
    assert not at.exception, [e.value for e in at.exception]


def _db(sql: str) -> list[tuple]:
    ws = open_workspace(load_config())
    try:
        with ws.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        ws.close()


def test_upload_form_renders(empty_home):
    at = run_page("upload.py")
    assert at.text_input(key="up_brand").value == ""
    assert at.text_input(key="up_channel").value == "upload:dashboard"
    (submit,) = at.get("form_submit_button")
    assert not submit.proto.disabled
    assert not at.warning
    assert any("Drop images" in i.value for i in at.info)


def test_upload_real_photo_and_a_refused_file(empty_home, media):
    at = run_page("upload.py")
    _upload(at, [("single_face.jpg", media.path("single_face.jpg").read_bytes(), "image/jpeg"),
                 ("notes.jpg", b"this is not an image", "image/jpeg")])
    assert [s.value for s in at.success] == ["1 file stored and analyzed"]
    assert [e.value.split(":")[0] for e in at.error] == ["Refused notes.jpg"]
    shown = [*(e.value for e in at.error), *(p.proto.text for p in at.get("progress"))]
    assert not [t for t in shown if "bm-upload" in t or "/tmp" in t], shown
    assert any("notes.jpg" in p.proto.text for p in at.get("progress"))
    items = _db("SELECT source, outcome FROM ingest_item ORDER BY source")
    assert items == [("notes.jpg", "failed"), ("single_face.jpg", "stored")]
    (faces,) = _db("SELECT count(*) FROM face")[0]
    assert faces >= 1
    assert len(at.dataframe[0].value) == faces


def test_upload_names_files_inside_a_zip_and_counts_in_plural(empty_home, media, tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("team/group.jpg", media.path("multi_face.jpg").read_bytes())
        zf.writestr("../escape.jpg", b"x")
    at = run_page("upload.py")
    _upload(at, [("drop.zip", buf.getvalue(), "application/zip"),
                 ("face.jpg", media.path("single_face.jpg").read_bytes(), "image/jpeg")])
    assert [s.value for s in at.success] == ["2 files stored and analyzed"]
    assert [e.value.split(":")[0] for e in at.error] == ["Refused drop.zip!/../escape.jpg"]
    items = _db("SELECT source, outcome FROM ingest_item ORDER BY source")
    assert items == [("drop.zip!/../escape.jpg", "failed"), ("drop.zip!/team/group.jpg",
                                                             "stored"), ("face.jpg", "stored")]


def test_a_malformed_channel_is_one_clear_error(empty_home, media):
    at = run_page("upload.py")
    _upload(at, [("face.jpg", media.path("single_face.jpg").read_bytes(), "image/jpeg")],
            channel="myspace")
    assert [e.value for e in at.error] == ["channel 'myspace' must look like platform:handle"]
    assert _db("SELECT count(*) FROM asset") == [(0,)]


def test_count_words():
    assert [count(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert count(1, "failed analysis", "failed analyses") == "1 failed analysis"
    assert count(3, "failed analysis", "failed analyses") == "3 failed analyses"
