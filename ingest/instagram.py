"""Instagram Graph API: a business or creator account's media.

``GET {base}/{ig_user_id}/media?fields=…`` pages through posts; carousels list their
children; videos are fetched from ``media_url`` (``thumbnail_url`` when that is absent).
Token: ``BRANDMOOD_INSTAGRAM_TOKEN`` (or the ``token`` argument); base URL:
``BRANDMOOD_GRAPH_BASE`` (default ``https://graph.facebook.com/v21.0``).
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

TOKEN_ENV = "BRANDMOOD_INSTAGRAM_TOKEN"
FIELDS = ("id,caption,media_type,media_url,thumbnail_url,permalink,timestamp,like_count,"
          "comments_count,children{id,media_type,media_url,thumbnail_url}")


def _media_url(obj: dict[str, Any]) -> str | None:
    return obj.get("media_url") or obj.get("thumbnail_url")


def post_candidates(post: dict[str, Any], base: PostMetadata) -> Iterator[Candidate]:
    """Candidates of one Instagram media object (one per carousel child)."""
    meta = replace(base, caption=post.get("caption"), permalink=post.get("permalink"),
                   posted_at=_time(post.get("timestamp")) or base.posted_at,
                   likes=_count(post.get("like_count")),
                   comments=_count(post.get("comments_count")),
                   extra={**base.extra, "instagram_id": post.get("id"),
                          "media_type": post.get("media_type")})
    if post.get("media_type") == "CAROUSEL_ALBUM":
        children = (post.get("children") or {}).get("data") or []
        for child in children:
            url = _media_url(child)
            if url:
                yield Candidate(source=f"instagram:{post.get('id')}/{child.get('id')}",
                                url=url, meta=replace(
                    meta, extra={**meta.extra, "child_id": child.get("id")}))
        return
    url = _media_url(post)
    if url:
        yield Candidate(source=f"instagram:{post.get('id')}", url=url, meta=meta)
    else:
        yield Candidate(source=f"instagram:{post.get('id')}",
                        error="post has no media_url (copyrighted media are withheld)")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _time(value: Any):
    try:
        return parse_time(value)
    except ValueError:
        return None


@dataclass
class InstagramSource:
    """Media of one Instagram business/creator account (its Graph user id)."""

    account_id: str
    token: str | None = None
    base_url: str | None = None
    meta: PostMetadata = field(default_factory=PostMetadata)
    kind: ClassVar[str] = SourceKind.INSTAGRAM

    @classmethod
    def from_request(cls, request: SourceRequest) -> InstagramSource:
        """Built from the request (its one target; token: its own, else the environment)."""
        return cls(request.one_target("Instagram account id"), token=request.token,
                   base_url=request.base_url, meta=request.meta)

    def __post_init__(self) -> None:
        self._token = token_from(TOKEN_ENV, self.token)
        self.token = None  # keep it out of reprs
        if self.meta.channel is None:
            self.meta = replace(self.meta, channel=ChannelRef(Platform.INSTAGRAM,
                                                              self.account_id))

    @property
    def label(self) -> str:
        return f"instagram:{self.account_id}"

    def candidates(self, ctx: SourceContext) -> Iterator[Candidate]:
        base = self.base_url or load_config().graph_base
        url = f"{base.rstrip('/')}/{self.account_id}/media"
        params = {"fields": FIELDS, "limit": 50, "access_token": self._token}
        for post in graph_pages(ctx.fetcher, url, params, env_name=TOKEN_ENV):
            yield from post_candidates(post, self.meta)
