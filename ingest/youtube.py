"""YouTube Data API v3: a channel's uploads, as thumbnails with statistics.

``channels?part=contentDetails`` gives the uploads playlist, ``playlistItems`` pages
through it (``nextPageToken``), ``videos?part=snippet,statistics`` gives titles, dates,
thumbnails and view/like/comment counts (50 ids per call). Key:
``BRANDMOOD_YOUTUBE_KEY``; base URL: ``BRANDMOOD_YOUTUBE_BASE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from brandmood.core.settings import load_config
from db.models import Platform
from ingest.base import (
    Candidate,
    ChannelRef,
    PostMetadata,
    SourceContext,
    SourceError,
    SourceKind,
    SourceRequest,
    TokenError,
    parse_time,
)
from ingest.graph import token_from
from ingest.net import Fetcher, FetchError

KEY_ENV = "BRANDMOOD_YOUTUBE_KEY"
_THUMB_ORDER = ("maxres", "standard", "high", "medium", "default")
_KEY_REASONS = {"keyInvalid", "keyExpired", "accessNotConfigured", "forbidden",
                "ipRefererBlocked"}
_RATE_REASONS = {"quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded",
                 "dailyLimitExceeded"}
MAX_PAGES = 200


def _api(fetcher: Fetcher, url: str, params: dict[str, Any]) -> dict[str, Any]:
    for attempt in range(4):
        try:
            status, body = fetcher.get_json(url, params=params)
        except FetchError as exc:
            raise SourceError(f"YouTube API unreachable: {exc}") from None
        if status == 200 and isinstance(body, dict):
            return body
        err = body.get("error", {}) if isinstance(body, dict) else {}
        reasons = {e.get("reason") for e in err.get("errors", []) if isinstance(e, dict)}
        if reasons & _KEY_REASONS or status == 401:
            why = ", ".join(sorted(r for r in reasons if r)) or "unauthorized"
            raise TokenError(f"API key refused (HTTP {status}: {why}): check {KEY_ENV}")
        if (status == 429 or status >= 500 or reasons & {"rateLimitExceeded",
                                                          "userRateLimitExceeded"}) \
                and attempt < 3:
            fetcher.sleep(min(fetcher.limits.backoff_s * 2 ** attempt,
                              fetcher.limits.max_retry_after_s))
            continue
        what = ", ".join(sorted(r for r in reasons if r)) or str(err.get("message", ""))[:200]
        raise SourceError(f"YouTube API HTTP {status}: {what}".rstrip(": "))
    raise SourceError("YouTube API: retries used up")  # pragma: no cover


def _thumb(snippet: dict[str, Any]) -> str | None:
    thumbs = snippet.get("thumbnails") or {}
    for name in _THUMB_ORDER:
        if (thumbs.get(name) or {}).get("url"):
            return thumbs[name]["url"]
    return None


def _num(stats: dict[str, Any], key: str) -> int | None:
    value = stats.get(key)
    return int(value) if isinstance(value, str | int) and str(value).isdigit() else None


def video_candidate(video: dict[str, Any], base: PostMetadata) -> Candidate:
    """A candidate for one ``videos`` resource (its best thumbnail)."""
    vid = video.get("id", "")
    snippet, stats = video.get("snippet") or {}, video.get("statistics") or {}
    try:
        posted = parse_time(snippet.get("publishedAt"))
    except ValueError:
        posted = None
    meta = replace(base, caption=snippet.get("title"),
                   permalink=f"https://www.youtube.com/watch?v={vid}",
                   posted_at=posted or base.posted_at, views=_num(stats, "viewCount"),
                   likes=_num(stats, "likeCount"), comments=_num(stats, "commentCount"),
                   extra={**base.extra, "youtube_video_id": vid, "media": "thumbnail"})
    url = _thumb(snippet)
    if not url:
        return Candidate(source=f"youtube:{vid}", error="video has no thumbnail")
    return Candidate(source=f"youtube:{vid}", url=url, meta=meta)


@dataclass
class YouTubeSource:
    """Uploads of one YouTube channel (id ``UC…`` or ``@handle``)."""

    channel: str
    key: str | None = None
    base_url: str | None = None
    meta: PostMetadata = field(default_factory=PostMetadata)
    kind: ClassVar[str] = SourceKind.YOUTUBE

    @classmethod
    def from_request(cls, request: SourceRequest) -> YouTubeSource:
        """Built from the request (its one target; token: its own, else the environment)."""
        return cls(request.one_target("YouTube channel id or @handle"), key=request.token,
                   base_url=request.base_url, meta=request.meta)

    def __post_init__(self) -> None:
        self._key = token_from(KEY_ENV, self.key)
        self.key = None
        if self.meta.channel is None:
            self.meta = replace(self.meta, channel=ChannelRef(Platform.YOUTUBE, self.channel))

    @property
    def label(self) -> str:
        return f"youtube:{self.channel}"

    def candidates(self, ctx: SourceContext) -> Iterator[Candidate]:
        base = (self.base_url or load_config().youtube_base).rstrip("/")
        which = {"forHandle": self.channel} if self.channel.startswith("@") \
            else {"id": self.channel}
        body = _api(ctx.fetcher, f"{base}/channels",
                    {"part": "contentDetails", **which, "key": self._key})
        items = body.get("items") or []
        if not items:
            raise SourceError(f"YouTube channel {self.channel!r} not found")
        uploads = items[0]["contentDetails"]["relatedPlaylists"]["uploads"]
        token: str | None = None
        for _ in range(MAX_PAGES):
            params = {"part": "contentDetails", "playlistId": uploads, "maxResults": 50,
                      "key": self._key, **({"pageToken": token} if token else {})}
            page = _api(ctx.fetcher, f"{base}/playlistItems", params)
            ids = [i["contentDetails"]["videoId"] for i in page.get("items", [])
                   if (i.get("contentDetails") or {}).get("videoId")]
            if ids:
                videos = _api(ctx.fetcher, f"{base}/videos", {
                    "part": "snippet,statistics", "id": ",".join(ids), "key": self._key})
                for video in videos.get("items", []):
                    yield video_candidate(video, self.meta)
            token = page.get("nextPageToken")
            if not token:
                return
