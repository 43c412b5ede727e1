"""Meta Graph API calls shared by the Instagram and Facebook sources.

Tokens come from the environment (or a parameter) and travel only as the
``access_token`` query parameter; they never appear in messages, logs or the store
(``paging.next`` URLs carry them, so every message goes through ``redact``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from brandmood.core.settings import load_config
from ingest.base import SourceError, TokenError
from ingest.net import Fetcher, FetchError, redact

RATE_LIMIT_CODES = {4, 17, 32, 613, 80001, 80002, 80004}
TOKEN_CODES = {190, 102}
MAX_PAGES = 1000


def token_from(env_name: str, token: str | None) -> str:
    """The token given, or the one in ``env_name``.

    Raises:
        TokenError: if neither is set.
    """
    value = token or str(load_config().by_env(env_name) or "")
    if not value.strip():
        raise TokenError(f"no access token: set {env_name}")
    return value.strip()


def graph_get(fetcher: Fetcher, url: str, params: dict[str, Any] | None, *,
              env_name: str, max_attempts: int = 4) -> dict[str, Any]:
    """One Graph API call, retrying rate limits (codes 4/17/32, HTTP 429) and 5xx.

    Raises:
        TokenError: expired or invalid token (code 190).
        SourceError: any other Graph error, or retries used up.
    """
    for attempt in range(max_attempts):
        try:
            status, body = fetcher.get_json(url, params=params)
        except FetchError as exc:
            raise SourceError(f"Graph API unreachable: {exc}") from None
        error = body.get("error") if isinstance(body, dict) else None
        if status == 200 and error is None:
            return body
        error = error if isinstance(error, dict) else {}
        code = error.get("code")
        message = str(error.get("message", ""))[:200]
        if code in TOKEN_CODES:
            raise TokenError(f"access token expired or invalid (Graph error {code}): "
                             f"renew {env_name}")
        if (code in RATE_LIMIT_CODES or status == 429 or status >= 500) \
                and attempt + 1 < max_attempts:
            fetcher.sleep(min(fetcher.limits.backoff_s * 2 ** attempt,
                              fetcher.limits.max_retry_after_s))
            continue
        what = f"Graph error {code}" if code is not None else f"HTTP {status}"
        if code in RATE_LIMIT_CODES:
            what += " (rate limited)"
        raise SourceError(f"{what} from {redact(url).split('?')[0]}: {message}".rstrip(": "))
    raise SourceError("Graph API: retries used up")  # pragma: no cover - loop returns/raises


def graph_pages(fetcher: Fetcher, url: str, params: dict[str, Any], *,
                env_name: str) -> Iterator[dict[str, Any]]:
    """Every object of a paged Graph edge, following ``paging.next``."""
    next_url: str | None = url
    next_params: dict[str, Any] | None = params
    for _ in range(MAX_PAGES):
        if not next_url:
            return
        body = graph_get(fetcher, next_url, next_params, env_name=env_name)
        yield from (d for d in body.get("data", []) if isinstance(d, dict))
        next_url = (body.get("paging") or {}).get("next")
        next_params = None  # the next URL carries every parameter
