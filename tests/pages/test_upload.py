"""Upload page: real photos stored at once and their analysis queued (the page returns and
polls the job), analyzed by the real worker, faces shown; refusals named by the user's file
names (never the server's scratch copies), counts in the right number."""

from __future__ import annotations

import json

from sqlalchemy import text

from brandmood.core.settings import load_config
from brandmood.ui import jobs_views
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


def _run_worker() -> list:
    """A worker (the real one, real models) drains the queue once."""
    from brandmood.services.worker import Worker

    ws = open_workspace(load_config())
    try:
        return Worker(ws).run(once=True)
    finally:
        ws.close()


def _progress_texts(at) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def test_upload_is_stored_at_once_and_analyzed_by_the_worker(empty_home, media):
    at = run_page("upload.py")
    _upload(at, [("single_face.jpg", media.path("single_face.jpg").read_bytes(), "image/jpeg"),
                 ("notes.jpg", b"this is not an image", "image/jpeg")])
    # returned at once: stored, its analysis queued, nothing analyzed yet
    assert [e.value.split(":")[0] for e in at.error] == ["Refused notes.jpg"]
    assert not at.success
    assert any(t.startswith("Job #1 is queued") for t in _progress_texts(at)), \
        _progress_texts(at)
    assert [w.value for w in at.warning] == [jobs_views.NO_WORKER]  # no worker is alive
    shown = [*(e.value for e in at.error), *_progress_texts(at)]
    assert not [t for t in shown if "bm-upload" in t or "/tmp" in t], shown
    items = _db("SELECT source, outcome FROM ingest_item ORDER BY source")
    assert items == [("single_face.jpg", "stored")]  # notes.jpg: refused by its content
    assert "an unknown type by its content" in at.error[0].value
    assert _db("SELECT status FROM asset") == [("pending",)]
    assert _db("SELECT count(*) FROM face") == [(0,)]
    assert _db("SELECT kind, status, enqueued_by FROM job") == [("upload", "queued",
                                                                 "dashboard")]
    (outcome,) = _run_worker()
    assert outcome.status == "done"
    at.run(timeout=120)  # the page shows the finished job's faces
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.success] == ["1 file stored and analyzed"]
    assert [e.value.split(":")[0] for e in at.error] == ["Refused notes.jpg"]
    assert not _progress_texts(at)
    (faces,) = _db("SELECT count(*) FROM face")[0]
    assert faces >= 1
    assert len(at.dataframe[0].value) == faces


def test_running_job_shows_its_progress_and_no_warning_with_a_live_worker(empty_home, media):
    from db.queries import jobs as jq

    at = run_page("upload.py")
    _upload(at, [("face.jpg", media.path("single_face.jpg").read_bytes(), "image/jpeg")])
    ws = open_workspace(load_config())
    try:
        with ws.sessions.begin() as s:
            job = jq.claim_job(session=s, worker="w1", lease_s=60)
        with ws.sessions.begin() as s:
            jq.register_worker(session=s, name="w1", host="h", pid=1)
            jq.renew_lease(session=s, job_id=job.id, worker="w1", lease_s=60,
                           progress=(0, 1, "loading models"))
    finally:
        ws.close()
    at.run(timeout=60)
    assert not at.exception, [e.value for e in at.exception]
    assert _progress_texts(at) == [f"Job #{job.id}: analyzing 0/1 loading models"]
    assert not at.warning
    assert any("You can leave this page" in c.value for c in at.caption)


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
    assert [e.value.split(":")[0] for e in at.error] == ["Refused drop.zip!/../escape.jpg"]
    items = _db("SELECT source, outcome FROM ingest_item ORDER BY source")
    assert items == [("drop.zip!/../escape.jpg", "failed"), ("drop.zip!/team/group.jpg",
                                                             "stored"), ("face.jpg", "stored")]
    (args,) = _db("SELECT arguments FROM job")[0]
    details = (json.loads(args) if isinstance(args, str) else args)["details"]
    assert (details["files"], details["stored"]) == (2, 2)
    assert details["refused"] == [["drop.zip!/../escape.jpg", at.error[0].value.split(": ", 1)[1]]]
    _run_worker()
    at.run(timeout=120)
    assert [s.value for s in at.success] == ["2 files stored and analyzed"]


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


def test_uploads_beyond_the_limits_are_refused_and_recorded(empty_home, media, monkeypatch):
    jpeg = media.path("single_face.jpg").read_bytes()
    at = run_page("upload.py")
    _upload(at, [("holiday.jpg", b"#!/bin/sh\necho owned\n", "image/jpeg")])
    assert at.error[0].value.startswith("Refused holiday.jpg: an unknown type by its "
                                        "content"), at.error[0].value
    monkeypatch.setenv("BRANDMOOD_MAX_UPLOAD_FILES", "1")
    at = run_page("upload.py")
    _upload(at, [("a.jpg", jpeg, "image/jpeg"), ("b.png", jpeg, "image/png")])
    assert "Upload refused: 2 files, at most 1 per upload" in at.error[0].value
    assert _db("SELECT count(*) FROM asset") == [(0,)]
    refused = [json.loads(d)["refused"] for (d,) in _db(
        "SELECT details FROM audit_events WHERE action = 'upload' ORDER BY id")]
    assert refused[0] == "no file of an allowed type"
    assert refused[1].startswith("Upload refused: 2 files")
    monkeypatch.setenv("BRANDMOOD_MAX_UPLOAD_FILES", "5")
    at = run_page("upload.py")
    _upload(at, [("named-wrong.png", jpeg, "image/png")])  # a JPEG named .png: its content
    assert not at.error, [e.value for e in at.error]
    assert _db("SELECT count(*) FROM asset") == [(1,)]
