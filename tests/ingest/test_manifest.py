"""CSV/JSON manifests of URLs (served on 127.0.0.1) and paths."""

from __future__ import annotations

import csv
import json
import socket
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from db.models import Asset, AssetPost, Outcome
from ingest.base import PostMetadata
from ingest.jobs import JobOptions, run_source
from ingest.manifest import ManifestSource
from tests.ingest.conftest import Reply, jpeg_bytes


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _write_csv(path: Path, rows: list[dict]) -> Path:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path


def test_csv_manifest_urls_metadata_and_bad_rows(ws, server, fetcher, media,
                                                 tmp_path: Path) -> None:
    photo = server.serve_file("/p/1.jpg", media.path("single_face.jpg").read_bytes())
    video = server.serve_file("/p/2.mp4", media.path("single_face.mp4").read_bytes(),
                              "video/mp4")
    data = media.path("multi_face.jpg").read_bytes()
    html = server.serve_file("/p/login.jpg", b"<!doctype html><html>sign in</html>")
    cut = server.serve_file("/p/cut.jpg", data[: len(data) // 2])
    missing = server.url("/p/404.jpg")
    dead = f"http://127.0.0.1:{_dead_port()}/x.jpg"
    rows = [
        {"url": photo, "channel": "instagram:@acme", "campaign": "Launch",
         "ambassador": "@maya", "posted_at": "2026-03-01T10:00:00Z", "caption": "Hi!",
         "permalink": "https://instagram.example/p/1", "likes": "1,204", "comments": "33",
         "shares": "", "views": "", "mood_board": "blue"},
        {"url": video, "channel": "youtube:AcmeTV", "posted_at": "2026-03-02", "views": "900"},
        {"url": html}, {"url": cut}, {"url": missing}, {"url": dead},
        {"url": photo + "?again", "likes": "-3"},
        {"caption": "no media"},
        {"url": photo + "?x", "posted_at": "yesterday-ish"},
        {"url": photo + "?y", "channel": "myspace:@acme"},
    ]
    manifest = _write_csv(tmp_path / "posts.csv", rows)
    summary = run_source(ws, ManifestSource(manifest),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    out = {i.source: i for i in summary.items}
    assert len(summary.items) == len(rows)
    assert out[photo].outcome is Outcome.STORED and out[video].outcome is Outcome.STORED
    assert "HTML page" in out[html].reason
    assert "truncated" in out[cut].reason
    assert "HTTP 404" in out[missing].reason
    assert "connection failed" in out[dead].reason
    bad = [i.reason for i in summary.items if i.reason and i.reason.startswith("line ")]
    assert bad == ["line 8: likes '-3' is negative",
                   "line 9: needs exactly one of 'url' and 'path'",
                   "line 10: 'yesterday-ish' is not a date (ISO 8601 expected)",
                   "line 11: unknown platform 'myspace' in channel 'myspace:@acme' "
                   "(known: instagram, facebook, youtube, tiktok, x, linkedin, rss, web, "
                   "upload)"]
    assert (summary.stored, summary.duplicate, summary.failed) == (2, 0, 8)
    with ws.session() as s:
        a = s.scalar(select(Asset).where(Asset.source_uri == photo))
        assert (a.likes, a.comments, a.shares, a.views) == (1204, 33, None, None)
        assert a.caption == "Hi!" and a.permalink == "https://instagram.example/p/1"
        assert a.posted_at.replace(tzinfo=UTC) == datetime(2026, 3, 1, 10, tzinfo=UTC)
        assert a.extra["mood_board"] == "blue"
        assert a.channel.label == "instagram:@acme" and a.campaign.name == "Launch"
        assert a.ambassador.name == "maya"
        v = s.scalar(select(Asset).where(Asset.source_uri == video))
        assert v.views == 900 and v.channel.label == "youtube:AcmeTV" and v.duration_s > 2


def test_json_manifest_with_paths_and_dedup(ws, media, tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(media.path("0-f1-su-ph.jpg").read_bytes())
    (tmp_path / "img" / "copy.jpg").write_bytes(media.path("0-f1-su-ph.jpg").read_bytes())
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"items": [
        {"path": "img/a.jpg", "channel": "instagram:@acme", "posted_at": "2026-01-05"},
        {"path": "img/copy.jpg", "channel": "upload:drive",
         "permalink": "https://drive.example/copy"},
        {"path": "img/missing.jpg"},
        "not an object",
    ]}))
    summary = run_source(ws, ManifestSource(manifest,
                                            meta=PostMetadata.assigned(campaign="Default")),
                         brand="Acme", opts=JobOptions(workers=1))
    assert [i.outcome for i in summary.items] == [Outcome.STORED, Outcome.DUPLICATE,
                                                  Outcome.FAILED, Outcome.FAILED]
    assert "item 3" in summary.items[2].reason and "item 4" in summary.items[3].reason
    with ws.session() as s:
        posts = s.scalars(select(AssetPost).order_by(AssetPost.id)).all()
        assert [p.permalink for p in posts] == [None, "https://drive.example/copy"]
        assert posts[0].asset_id == posts[1].asset_id
        assert s.scalar(select(Asset)).campaign.name == "Default"


def test_jsonl_manifest_and_unreadable_manifest(ws, media, tmp_path: Path) -> None:
    good = tmp_path / "m.jsonl"
    good.write_text(json.dumps({"path": str(media.path("single_face.jpg"))}) + "\n\n"
                    + json.dumps({"path": str(media.path("single_face.jpg")), "likes": "x"}))
    summary = run_source(ws, ManifestSource(good), brand="A")
    assert summary.stored == 1 and summary.items[1].reason.startswith("line 3: likes")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    failed = run_source(ws, ManifestSource(broken), brand="A")
    assert failed.error and "not a readable manifest" in failed.error and not failed.items


def test_server_answers_with_retry_after_then_succeeds(ws, server, fetcher,
                                                       tmp_path: Path) -> None:
    answers = iter([Reply(429, b"", {"Retry-After": "0"})])
    data = jpeg_bytes(9)
    url = server.route("/r.jpg", lambda q: next(answers, Reply(200, data)))
    manifest = _write_csv(tmp_path / "m.csv", [{"url": url}])
    summary = run_source(ws, ManifestSource(manifest), brand="A", opts=JobOptions(fetcher=fetcher))
    assert summary.stored == 1 and server.hits["/r.jpg"] == 2
