"""RSS 2.0 and Atom feeds (including YouTube channel feeds).

Each item's media: ``media:content`` (also inside ``media:group``), ``enclosure`` with an
image or video type, else ``media:thumbnail``. YouTube channel feeds
(``https://www.youtube.com/feeds/videos.xml?channel_id=…``) give each video's
thumbnail with its views (``media:statistics``) and rating count.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import ClassVar

from db.models import Platform
from ingest.base import (
    Candidate,
    ChannelRef,
    PostMetadata,
    SourceContext,
    SourceError,
    SourceKind,
    SourceRequest,
    parse_time,
)

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "media": "http://search.yahoo.com/mrss/",
    "yt": "http://www.youtube.com/xml/schemas/2015",
    "content": "http://purl.org/rss/1.0/modules/content/",
}
_MEDIA_TYPES = ("image/", "video/")


def _t(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, NS)
    text = found.text if found is not None else None
    return text.strip() if text and text.strip() else None


def _media_urls(item: ET.Element) -> list[str]:
    urls: list[str] = []
    for mc in item.iterfind(".//media:content", NS):
        medium, typ = mc.get("medium", ""), mc.get("type", "")
        if mc.get("url") and (medium in ("image", "video") or typ.startswith(_MEDIA_TYPES)
                              or not (medium or typ)):
            urls.append(mc.get("url", ""))
    for enc in item.iterfind("enclosure"):
        if enc.get("url") and enc.get("type", "").startswith(_MEDIA_TYPES):
            urls.append(enc.get("url", ""))
    if not urls:
        thumbs = [t for t in item.iterfind(".//media:thumbnail", NS) if t.get("url")]
        if thumbs:  # the largest one
            best = max(thumbs, key=lambda t: int(t.get("width") or 0))
            urls.append(best.get("url", ""))
    return list(dict.fromkeys(urls))


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _rss_meta(item: ET.Element, base: PostMetadata) -> PostMetadata:
    posted = _t(item, "pubDate")
    return replace(base, caption=_t(item, "title") or _t(item, "description"),
                   permalink=_t(item, "link"), posted_at=_safe_time(posted) or base.posted_at)


def _atom_meta(entry: ET.Element, base: PostMetadata) -> PostMetadata:
    link = next((lk.get("href") for lk in entry.iterfind("atom:link", NS)
                 if lk.get("rel", "alternate") == "alternate"), None)
    stats = entry.find(".//media:community/media:statistics", NS)
    rating = entry.find(".//media:community/media:starRating", NS)
    extra = dict(base.extra)
    video_id = _t(entry, "yt:videoId")
    if video_id:
        extra["youtube_video_id"] = video_id
    return replace(
        base,
        caption=_t(entry, "atom:title") or _t(entry, ".//media:description"),
        permalink=link,
        posted_at=_safe_time(_t(entry, "atom:published") or _t(entry, "atom:updated"))
        or base.posted_at,
        views=_int(stats.get("views")) if stats is not None else base.views,
        likes=_int(rating.get("count")) if rating is not None else base.likes,
        extra=extra)


def _safe_time(text: str | None):
    try:
        return parse_time(text)
    except ValueError:
        return None


def parse_feed(data: bytes, base: PostMetadata) -> list[tuple[list[str], PostMetadata, str]]:
    """(media URLs, metadata, item id) per feed item.

    Raises:
        SourceError: if the bytes are not an RSS or Atom feed.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SourceError(f"not an RSS/Atom feed: {exc}") from None
    out = []
    if root.tag == "rss" or root.find("channel") is not None:
        for n, item in enumerate(root.iterfind("./channel/item"), start=1):
            out.append((_media_urls(item), _rss_meta(item, base),
                        _t(item, "guid") or _t(item, "link") or f"item {n}"))
    elif root.tag == f"{{{NS['atom']}}}feed":
        for n, entry in enumerate(root.iterfind("atom:entry", NS), start=1):
            out.append((_media_urls(entry), _atom_meta(entry, base),
                        _t(entry, "atom:id") or f"entry {n}"))
    else:
        raise SourceError(f"not an RSS/Atom feed (root element {root.tag!r})")
    return out


@dataclass
class FeedSource:
    """An RSS or Atom feed URL."""

    url: str
    meta: PostMetadata = field(default_factory=PostMetadata)
    kind: ClassVar[str] = SourceKind.FEED

    def __post_init__(self) -> None:
        if self.meta.channel is None:  # a feed is a channel of its own
            self.meta = replace(self.meta, channel=ChannelRef(Platform.RSS, self.url))

    @classmethod
    def from_request(cls, request: SourceRequest) -> FeedSource:
        """The feed at the request's one target (a URL)."""
        return cls(request.one_target("feed URL"), meta=request.meta)

    @property
    def label(self) -> str:
        return self.url

    def candidates(self, ctx: SourceContext) -> Iterator[Candidate]:
        data = ctx.fetcher.get_text(self.url)
        for urls, meta, _item_id in parse_feed(data, self.meta):
            for url in urls:  # text-only items carry no media: nothing to ingest
                yield Candidate(source=url, url=url, meta=meta)
