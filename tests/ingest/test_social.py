"""Instagram Graph, Facebook Graph and YouTube Data API v3 against a local server.

The server answers in the APIs' documented JSON formats, including paging, expired
tokens (Graph code 190), rate limits (HTTP 429 + Retry-After; Graph codes 4/17/32),
5xx answers and timeouts. Tokens must never reach the store or any message.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from db.models import Asset, AssetKind, Outcome, Platform, RunStatus
from db.queries import ingest as q
from ingest.base import PostMetadata, TokenError
from ingest.facebook import FacebookSource
from ingest.instagram import InstagramSource
from ingest.jobs import JobOptions, run_source
from ingest.net import Fetcher, FetchLimits, UrlGuard
from ingest.youtube import YouTubeSource
from tests.ingest.conftest import Reply, jpeg_bytes

TOKEN = "EAAG-secret-token-123"


def _json(obj, status: int = 200, headers: dict | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(),
                 {"Content-Type": "application/json", **(headers or {})})


def _graph_error(code: int, status: int = 400) -> Reply:
    return _json({"error": {"message": "Error validating access token" if code == 190
                            else "Application request limit reached",
                            "type": "OAuthException", "code": code,
                            "fbtrace_id": "AbCdEf"}}, status)


def _no_secret_anywhere(ws, summary) -> None:
    dump = json.dumps(summary.to_json())
    assert TOKEN not in dump and TOKEN not in (summary.error or "")
    with ws.engine.connect() as conn:
        for table in ("asset", "asset_post", "ingest_item", "ingest_run", "channel"):
            rows = conn.execute(text(f"SELECT * FROM {table}")).fetchall()
            assert TOKEN not in repr(rows)


def _instagram_api(server, media) -> None:
    photo = server.serve_file("/cdn/1.jpg", media.path("single_face.jpg").read_bytes())
    video = server.serve_file("/cdn/2.mp4", media.path("single_face.mp4").read_bytes(),
                              "video/mp4")
    c1 = server.serve_file("/cdn/c1.jpg", jpeg_bytes(21))
    c2 = server.serve_file("/cdn/c2.jpg", jpeg_bytes(22))
    page2 = server.url(f"/v21.0/1784/media?access_token={TOKEN}&after=QVFI")
    server.route("/v21.0/1784/media", lambda qs: _json({
        "data": [{"id": "c", "media_type": "CAROUSEL_ALBUM", "caption": "Two looks",
                  "permalink": "https://www.instagram.com/p/C/",
                  "timestamp": "2026-04-02T09:00:00+0000", "like_count": 5,
                  "comments_count": 1,
                  "children": {"data": [{"id": "c-1", "media_type": "IMAGE", "media_url": c1},
                                        {"id": "c-2", "media_type": "IMAGE",
                                         "media_url": c2}]}}],
        "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}}) if "after" in qs else _json({
        "data": [
            {"id": "1", "media_type": "IMAGE", "media_url": photo, "caption": "Hello",
             "permalink": "https://www.instagram.com/p/A/",
             "timestamp": "2026-04-01T12:30:00+0000", "like_count": 120,
             "comments_count": 7},
            {"id": "2", "media_type": "VIDEO", "media_url": video,
             "thumbnail_url": server.url("/cdn/2-thumb.jpg"),
             "permalink": "https://www.instagram.com/reel/B/",
             "timestamp": "2026-04-01T18:00:00+0000", "like_count": 80,
             "comments_count": 3},
            {"id": "3", "media_type": "VIDEO", "permalink": "https://www.instagram.com/p/D/",
             "timestamp": "2026-04-01T19:00:00+0000"}],
        "paging": {"cursors": {"before": "a", "after": "QVFI"}, "next": page2}}))


def test_instagram_pages_carousels_videos(ws, server, fetcher, media) -> None:
    _instagram_api(server, media)
    summary = run_source(ws, InstagramSource("1784", token=TOKEN, base_url=server.url("/v21.0"),
                                             meta=PostMetadata.assigned(campaign="Spring")),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert [i.source for i in summary.items] == [
        "instagram:1", "instagram:2", "instagram:3", "instagram:c/c-1", "instagram:c/c-2"]
    assert (summary.stored, summary.duplicate, summary.failed) == (4, 0, 1)
    assert "no media_url" in summary.items[2].reason
    assert server.queries[0][1]["access_token"] == [TOKEN]
    assert "children" in server.queries[0][1]["fields"][0]
    with ws.session() as s:
        a = s.scalar(select(Asset).where(Asset.source_uri == "instagram:1"))
        assert (a.likes, a.comments, a.caption) == (120, 7, "Hello")
        assert a.permalink == "https://www.instagram.com/p/A/"
        assert (a.posted_at.hour, a.posted_at.minute) == (12, 30)
        assert a.channel.platform is Platform.INSTAGRAM and a.channel.handle == "1784"
        v = s.scalar(select(Asset).where(Asset.source_uri == "instagram:2"))
        assert v.kind is AssetKind.VIDEO
    _no_secret_anywhere(ws, summary)
    again = run_source(ws, InstagramSource("1784", token=TOKEN, base_url=server.url("/v21.0")),
                       brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert (again.stored, again.duplicate) == (0, 4)
    assert server.hits["/cdn/1.jpg"] == 1  # not downloaded again


def test_instagram_token_from_environment_and_missing(ws, server, fetcher, media,
                                                      monkeypatch) -> None:
    _instagram_api(server, media)
    monkeypatch.delenv("BRANDMOOD_INSTAGRAM_TOKEN", raising=False)
    with pytest.raises(TokenError, match="BRANDMOOD_INSTAGRAM_TOKEN"):
        run_source(ws, InstagramSource("1784"), brand="Acme")
    monkeypatch.setenv("BRANDMOOD_INSTAGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("BRANDMOOD_GRAPH_BASE", server.url("/v21.0"))
    summary = run_source(ws, InstagramSource("1784"),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert summary.stored == 4 and summary.error is None


def test_graph_expired_token_stops_with_clear_error(ws, server, fetcher) -> None:
    server.route("/v21.0/1784/media", _graph_error(190))
    summary = run_source(ws, InstagramSource("1784", token=TOKEN, base_url=server.url("/v21.0")),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert "190" in summary.error and "expired" in summary.error
    assert "BRANDMOOD_INSTAGRAM_TOKEN" in summary.error
    with ws.session() as s:
        assert q.list_runs(s)[0].status is RunStatus.FAILED
    _no_secret_anywhere(ws, summary)


@pytest.mark.parametrize("code", [4, 17, 32])
def test_graph_rate_limit_codes_are_retried(ws, server, fetcher, code: int) -> None:
    answers = iter([_graph_error(code, 403)])
    pic = server.serve_file("/cdn/x.jpg", jpeg_bytes(30 + code))
    ok = _json({"data": [{"id": "9", "media_type": "IMAGE", "media_url": pic}]})
    server.route("/v21.0/1784/media", lambda qs: next(answers, ok))
    summary = run_source(ws, InstagramSource("1784", token=TOKEN, base_url=server.url("/v21.0")),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert summary.error is None and summary.stored == 1
    assert server.hits["/v21.0/1784/media"] == 2


def test_graph_rate_limit_that_persists_fails_the_run(ws, server, fetcher) -> None:
    server.route("/v21.0/1784/media", _graph_error(4, 403))
    summary = run_source(ws, InstagramSource("1784", token=TOKEN, base_url=server.url("/v21.0")),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert "rate limited" in summary.error and server.hits["/v21.0/1784/media"] == 4


def test_graph_429_5xx_and_timeouts(ws, server) -> None:
    waits: list[float] = []
    f = Fetcher(UrlGuard(["127.0.0.1"]), FetchLimits(read_timeout_s=0.3, retries=2,
                                                      backoff_s=0.01), sleep=waits.append)
    pic = server.serve_file("/cdn/y.jpg", jpeg_bytes(40))
    answers = iter([_json({}, 429, {"Retry-After": "3"}), _json({}, 502)])
    ok = _json({"data": [{"id": "1", "media_type": "IMAGE", "media_url": pic}]})
    server.route("/v21.0/1784/media", lambda qs: next(answers, ok))
    summary = run_source(ws, InstagramSource("1784", token=TOKEN, base_url=server.url("/v21.0")),
                         brand="Acme", opts=JobOptions(fetcher=f))
    assert summary.stored == 1 and waits[0] == 3.0
    server.route("/v21.0/1784/media", Reply(200, b"{}", delay_s=1.0))
    slow = run_source(ws, InstagramSource("1784", token=TOKEN, base_url=server.url("/v21.0")),
                      brand="Acme", opts=JobOptions(fetcher=f))
    assert "timed out" in slow.error
    server.route("/v21.0/1784/media", _json({"error": {"message": "oops", "code": 1}}, 500))
    broken = run_source(ws, InstagramSource("1784", token=TOKEN, base_url=server.url("/v21.0")),
                        brand="Acme", opts=JobOptions(fetcher=f))
    assert "500" in broken.error or "Graph error 1" in broken.error


def test_facebook_page_posts(ws, server, fetcher, media) -> None:
    photo = server.serve_file("/fb/1.jpg", media.path("multi_face.jpg").read_bytes())
    a1 = server.serve_file("/fb/a1.jpg", jpeg_bytes(51))
    a2 = server.serve_file("/fb/a2.jpg", jpeg_bytes(52))
    full = server.serve_file("/fb/full.jpg", jpeg_bytes(53))
    server.route("/v21.0/acmepage/posts", _json({"data": [
        {"id": "p_1", "message": "Team photo", "created_time": "2026-02-01T10:00:00+0000",
         "permalink_url": "https://www.facebook.com/acme/posts/1",
         "attachments": {"data": [{"media_type": "photo", "media": {"image": {
             "src": photo, "width": 1000, "height": 667}}}]},
         "reactions": {"data": [], "summary": {"total_count": 210}},
         "comments": {"data": [], "summary": {"total_count": 14}}, "shares": {"count": 9}},
        {"id": "p_2", "message": "Album", "created_time": "2026-02-02T10:00:00+0000",
         "attachments": {"data": [{"media_type": "album", "subattachments": {"data": [
             {"media_type": "photo", "media": {"image": {"src": a1}}},
             {"media_type": "photo", "media": {"image": {"src": a2}}}]}}]}},
        {"id": "p_3", "message": "Link post", "full_picture": full,
         "created_time": "2026-02-03T10:00:00+0000"},
        {"id": "p_4", "message": "text only", "created_time": "2026-02-04T10:00:00+0000"}],
        "paging": {"cursors": {"before": "x", "after": "y"}}}))
    summary = run_source(ws, FacebookSource("acmepage", token=TOKEN, base_url=server.url("/v21.0")),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert [i.source for i in summary.items] == ["facebook:p_1", "facebook:p_2",
                                                 "facebook:p_2/1", "facebook:p_3"]
    assert summary.stored == 4
    with ws.session() as s:
        a = s.scalar(select(Asset).where(Asset.source_uri == "facebook:p_1"))
        assert (a.likes, a.comments, a.shares, a.caption) == (210, 14, 9, "Team photo")
        assert a.channel.label == "facebook:acmepage"
    _no_secret_anywhere(ws, summary)


def _youtube_api(server, key: str) -> None:
    thumbs = {vid: server.serve_file(f"/vi/{vid}/hq.jpg", jpeg_bytes(60 + n))
              for n, vid in enumerate(["v1", "v2", "v3"])}
    server.route("/yt/channels", lambda qs: _json({"kind": "youtube#channelListResponse",
        "items": [{"id": "UCacme", "contentDetails": {"relatedPlaylists": {
            "uploads": "UUacme"}}}]}) if qs.get("key") == [key] else _json({"error": {
                "code": 400, "message": "API key not valid.",
                "errors": [{"reason": "keyInvalid", "domain": "usageLimits"}]}}, 400))
    server.route("/yt/playlistItems", lambda qs: _json({
        "items": [{"contentDetails": {"videoId": v}} for v in
                  (["v3"] if qs.get("pageToken") == ["P2"] else ["v1", "v2"])],
        **({} if qs.get("pageToken") == ["P2"] else {"nextPageToken": "P2"})}))

    def videos(qs):
        items = []
        for vid in qs["id"][0].split(","):
            items.append({"id": vid, "snippet": {
                "publishedAt": f"2026-03-0{vid[-1]}T15:00:00Z", "title": f"Video {vid}",
                "thumbnails": {"default": {"url": server.url("/nope.jpg")},
                               "high": {"url": thumbs[vid], "width": 480}}},
                "statistics": {"viewCount": "1000", "likeCount": "50",
                               "commentCount": "4"}})
        return _json({"items": items})
    server.route("/yt/videos", videos)


def test_youtube_uploads_with_statistics(ws, server, fetcher) -> None:
    _youtube_api(server, "K-123")
    summary = run_source(ws, YouTubeSource("UCacme", key="K-123", base_url=server.url("/yt")),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert [i.source for i in summary.items] == ["youtube:v1", "youtube:v2", "youtube:v3"]
    assert summary.stored == 3 and server.hits["/yt/playlistItems"] == 2
    with ws.session() as s:
        a = s.scalar(select(Asset).where(Asset.source_uri == "youtube:v2"))
        assert (a.views, a.likes, a.comments) == (1000, 50, 4)
        assert a.permalink == "https://www.youtube.com/watch?v=v2" and a.caption == "Video v2"
        assert a.channel.platform is Platform.YOUTUBE
    bad = run_source(ws, YouTubeSource("UCacme", key="wrong", base_url=server.url("/yt")),
                     brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert "keyInvalid" in bad.error and "BRANDMOOD_YOUTUBE_KEY" in bad.error
    assert "wrong" not in bad.error
    assert not [i for i in bad.items if i.outcome is Outcome.STORED]
