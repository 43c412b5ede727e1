"""``brandmood ingest …`` through Typer's test runner."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.core.settings import load_config
from db.models import Asset
from db.workspace import open_workspace
from tests.ingest.conftest import Reply, jpeg_bytes

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _assets() -> int:
    ws = open_workspace(load_config())
    try:
        with ws.session() as s:
            return s.scalar(select(func.count(Asset.id)))
    finally:
        ws.close()


def test_help_for_every_source() -> None:
    for sub in ("files", "manifest", "feed", "instagram", "facebook", "youtube"):
        result = invoke("ingest", sub, "--help")
        assert result.exit_code == 0 and "--brand" in result.output and "--json" in result.output


def test_files_json_lists_every_candidate_including_archive_entries(ws_env, media,
                                                                    tmp_path: Path) -> None:
    archive = tmp_path / "drop.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.jpg", media.path("single_face.jpg").read_bytes())
        zf.writestr("../b.jpg", media.path("single_face.jpg").read_bytes())
        zf.writestr("c.jpg", media.path("single_face.jpg").read_bytes())
    photo = media.path("multi_face.jpg")
    result = invoke("ingest", "files", str(archive), str(photo), "--brand", "Acme",
                    "--campaign", "Spring", "--channel", "upload:drop", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["stored"], out["duplicate"], out["failed"]) == (2, 1, 1)
    assert [i["source"] for i in out["items"]] == [
        f"{archive}!/a.jpg", f"{archive}!/../b.jpg", f"{archive}!/c.jpg", str(photo)]
    assert [i["outcome"] for i in out["items"]] == ["stored", "failed", "duplicate", "stored"]
    assert all(set(i) >= {"source", "outcome", "reason"} for i in out["items"])
    assert _assets() == 2


def test_table_summary_and_dry_run(ws_env, media) -> None:
    result = invoke("ingest", "files", str(media.path("single_face.jpg")), "--brand", "A",
                    "--dry-run")
    assert result.exit_code == 0, result.output
    assert "stored" in result.stdout and "dry run: nothing was written" in result.stdout
    assert _assets() == 0
    result = invoke("ingest", "files", str(media.path("single_face.jpg")), "--brand", "A")
    lines = result.stdout.splitlines()
    assert any(line.split() == ["stored", "1"] for line in lines)
    assert any(line.split() == ["total", "1"] for line in lines)


@pytest.mark.parametrize(("args", "message"), [
    (["files", "/no/such/dir", "--brand", "A"], "no such file or folder: /no/such/dir"),
    (["files", ".", "--brand", "A", "--channel", "myspace:x"], "unknown platform 'myspace'"),
    (["files", ".", "--brand", "A", "--channel", "instagram"], "must look like platform:handle"),
    (["manifest", "/no/such.csv", "--brand", "A"], "no such manifest"),
    (["files", ".", "--brand", " "], "brand name must not be empty"),
])
def test_user_errors_are_one_line_exit_2(ws_env, args: list[str], message: str) -> None:
    result = invoke("ingest", *args)
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr and "Traceback" not in result.output


def test_instagram_without_token_is_a_user_error(ws_env, monkeypatch) -> None:
    monkeypatch.delenv("BRANDMOOD_INSTAGRAM_TOKEN", raising=False)
    result = invoke("ingest", "instagram", "1784", "--brand", "A")
    assert result.exit_code == 2 and "BRANDMOOD_INSTAGRAM_TOKEN" in result.stderr


def test_manifest_and_feed_commands_over_local_server(ws_env, server, tmp_path: Path,
                                                      monkeypatch) -> None:
    monkeypatch.setenv("BRANDMOOD_ALLOW_HOSTS", "127.0.0.1")
    url = server.serve_file("/a.jpg", jpeg_bytes(77))
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as fh:
        csv.writer(fh).writerows([["url", "likes"], [url, "12"], [url + "?2", "many"]])
    result = invoke("ingest", "manifest", str(manifest), "--brand", "A", "--json")
    out = json.loads(result.stdout)
    assert (out["stored"], out["failed"]) == (1, 1)
    assert out["items"][1]["reason"] == "line 3: likes 'many' is not a whole number"
    feed = server.route("/feed.xml", Reply(200, (
        '<rss version="2.0"><channel><item><title>x</title>'
        f'<enclosure url="{url}" type="image/jpeg"/></item></channel></rss>').encode()))
    result = invoke("ingest", "feed", feed, "--brand", "A", "--json")
    assert json.loads(result.stdout)["duplicate"] == 1  # same bytes as the manifest's
    broken = server.route("/broken.xml", Reply(200, b"<html>no</html>"))
    result = invoke("ingest", "feed", broken, "--brand", "A")
    assert result.exit_code == 2 and "not an RSS/Atom feed" in result.stderr
