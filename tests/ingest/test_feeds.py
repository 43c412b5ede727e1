"""RSS, Atom and YouTube channel feeds served on 127.0.0.1."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Asset, Platform, RunStatus
from db.queries import ingest as q
from ingest.base import PostMetadata
from ingest.feeds import FeedSource
from ingest.jobs import JobOptions, run_source
from tests.ingest.conftest import Reply, jpeg_bytes


def _rss(server, items: list[str]) -> str:
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>Acme blog</title><link>https://acme.example</link>
{''.join(items)}
</channel></rss>"""
    return server.route("/feed.xml", Reply(200, body.encode(), {"Content-Type":
                                                                 "application/rss+xml"}))


def _item(n: int, media: str) -> str:
    return (f"<item><title>Post {n}</title><link>https://acme.example/p/{n}</link>"
            f"<guid>p{n}</guid><pubDate>Mon, 0{n} Jun 2026 10:00:00 +0000</pubDate>"
            f"{media}</item>")


def test_rss_media_content_enclosure_thumbnail_and_only_new(ws, server, fetcher) -> None:
    urls = [server.serve_file(f"/m/{n}.jpg", jpeg_bytes(n)) for n in range(1, 5)]
    items = [
        _item(1, f'<media:content url="{urls[0]}" medium="image" type="image/jpeg"/>'),
        _item(2, f'<enclosure url="{urls[1]}" type="image/jpeg" length="1"/>'
                 f'<enclosure url="{server.url("/m/pod.mp3")}" type="audio/mpeg" length="1"/>'),
        _item(3, f'<media:thumbnail url="{urls[2]}" width="480"/>'),
        _item(4, ""),  # text only: nothing to ingest
    ]
    feed = _rss(server, items)
    first = run_source(ws, FeedSource(feed), brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert (first.stored, first.duplicate, first.failed) == (3, 0, 0)
    assert [i.source for i in first.items] == urls[:3]
    with ws.session() as s:
        a = s.scalar(select(Asset).where(Asset.source_uri == urls[0]))
        assert a.caption == "Post 1" and a.permalink == "https://acme.example/p/1"
        assert a.posted_at.day == 1 and a.posted_at.month == 6
        assert a.channel.platform is Platform.RSS
    # a new item appears: the second run downloads only that one
    items.append(_item(5, f'<media:content url="{urls[3]}" type="image/jpeg"/>'))
    _rss(server, items)
    second = run_source(ws, FeedSource(feed), brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert (second.stored, second.duplicate, second.failed) == (1, 3, 0)
    assert all(server.hits[f"/m/{n}.jpg"] == 1 for n in range(1, 5))
    assert "/m/pod.mp3" not in server.hits


def test_atom_and_youtube_channel_feed(ws, server, fetcher) -> None:
    thumb = server.serve_file("/vi/abc/hqdefault.jpg", jpeg_bytes(11))
    small = server.serve_file("/vi/abc/default.jpg", jpeg_bytes(12))
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"
      xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <title>Acme TV</title>
 <entry>
  <id>yt:video:abc</id><yt:videoId>abc</yt:videoId><yt:channelId>UCacme</yt:channelId>
  <title>Launch film</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=abc"/>
  <published>2026-05-04T08:00:00+00:00</published>
  <media:group>
   <media:title>Launch film</media:title>
   <media:thumbnail url="{small}" width="120" height="90"/>
   <media:thumbnail url="{thumb}" width="480" height="360"/>
   <media:description>Our new range</media:description>
   <media:community>
    <media:starRating count="321" average="5.00" min="1" max="5"/>
    <media:statistics views="45678"/>
   </media:community>
  </media:group>
 </entry>
</feed>"""
    feed = server.route("/feeds/videos.xml", Reply(200, body.encode()))
    summary = run_source(ws, FeedSource(feed, meta=PostMetadata.assigned(channel="youtube:AcmeTV")),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert summary.stored == 1 and summary.items[0].source == thumb
    with ws.session() as s:
        a = s.scalar(select(Asset))
        assert (a.views, a.likes, a.caption) == (45678, 321, "Launch film")
        assert a.permalink == "https://www.youtube.com/watch?v=abc"
        assert a.extra["youtube_video_id"] == "abc" and a.channel.label == "youtube:AcmeTV"


def test_not_a_feed_ends_the_run_failed(ws, server, fetcher) -> None:
    url = server.route("/feed", Reply(200, b"<html><body>nope</body></html>"))
    summary = run_source(ws, FeedSource(url), brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert summary.error and "not an RSS/Atom feed" in summary.error
    with ws.session() as s:
        assert q.list_runs(s)[0].status is RunStatus.FAILED
    missing = run_source(ws, FeedSource(server.url("/gone")),
                         brand="Acme", opts=JobOptions(fetcher=fetcher))
    assert "HTTP 404" in missing.error and not missing.items
