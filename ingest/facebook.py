"""Facebook Page posts through the Graph API.

``GET {base}/{page_id}/posts?fields=…`` with attachments (photos, videos, albums via
``subattachments``), ``full_picture`` as fallback, reactions/comments totals and shares.
Token: ``BRANDMOOD_FACEBOOK_TOKEN`` (a Page access token) or the ``token`` argument.
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
    SourceKind,
    SourceRequest,
    parse_time,
)
from ingest.graph import graph_pages, token_from

TOKEN_ENV = "BRANDMOOD_FACEBOOK_TOKEN"
FIELDS = ("id,message,created_time,permalink_url,full_picture,"
          "attachments{media_type,media,url,subattachments},"
          "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0),"
          "shares")


def _total(obj: Any) -> int | None:
    if not isinstance(obj, dict):
        return None
    value = (obj.get("summary") or {}).get("total_count")
    return value if isinstance(value, int) and value >= 0 else None


def _attachment_urls(att: dict[str, Any]) -> list[str]:
    subs = (att.get("subattachments") or {}).get("data") or []
    if subs:
        return [u for s in subs for u in _attachment_urls(s)]
    media = att.get("media") or {}
    url = media.get("source") or (media.get("image") or {}).get("src")
    return [url] if url else []


def post_candidates(post: dict[str, Any], base: PostMetadata) -> Iterator[Candidate]:
    """Candidates of one Page post: each attached photo/video, else its full picture."""
    try:
        posted = parse_time(post.get("created_time"))
    except ValueError:
        posted = None
    shares = (post.get("shares") or {}).get("count")
    meta = replace(base, caption=post.get("message"), permalink=post.get("permalink_url"),
                   posted_at=posted or base.posted_at, likes=_total(post.get("reactions")),
                   comments=_total(post.get("comments")),
                   shares=shares if isinstance(shares, int) else None,
                   extra={**base.extra, "facebook_id": post.get("id")})
    urls = [u for att in (post.get("attachments") or {}).get("data") or []
            for u in _attachment_urls(att)]
    if not urls and post.get("full_picture"):
        urls = [post["full_picture"]]
    pid = post.get("id")
    for n, url in enumerate(dict.fromkeys(urls)):
        yield Candidate(source=f"facebook:{pid}" + (f"/{n}" if n else ""), url=url, meta=meta)


@dataclass
class FacebookSource:
    """Posts of one Facebook Page (its id or name)."""

    page_id: str
    token: str | None = None
    base_url: str | None = None
    meta: PostMetadata = field(default_factory=PostMetadata)
    kind: ClassVar[str] = SourceKind.FACEBOOK

    @classmethod
    def from_request(cls, request: SourceRequest) -> FacebookSource:
        """Built from the request (its one target; token: its own, else the environment)."""
        return cls(request.one_target("Facebook Page id"), token=request.token,
                   base_url=request.base_url, meta=request.meta)

    def __post_init__(self) -> None:
        self._token = token_from(TOKEN_ENV, self.token)
        self.token = None
        if self.meta.channel is None:
            self.meta = replace(self.meta, channel=ChannelRef(Platform.FACEBOOK, self.page_id))

    @property
    def label(self) -> str:
        return f"facebook:{self.page_id}"

    def candidates(self, ctx: SourceContext) -> Iterator[Candidate]:
        base = self.base_url or load_config().graph_base
        url = f"{base.rstrip('/')}/{self.page_id}/posts"
        params = {"fields": FIELDS, "limit": 50, "access_token": self._token}
        for post in graph_pages(ctx.fetcher, url, params, env_name=TOKEN_ENV):
            yield from post_candidates(post, self.meta)
