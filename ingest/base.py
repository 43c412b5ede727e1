"""What every ingest source yields: candidates with their post metadata.

A source is one small object with one method, :meth:`Source.candidates`, that turns
what it reads (a folder, a manifest, a feed, an API) into :class:`Candidate` records.
Downloading, media checks and bookkeeping are the job's business (``ingest.jobs``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from db.models import Platform

if TYPE_CHECKING:
    from ingest.net import Fetcher


class SourceKind(enum.StrEnum):
    """The built-in sources (plug-ins add their own names, see ``ingest.sources``)."""

    FILES = "files"
    MANIFEST = "manifest"
    FEED = "feed"
    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    YOUTUBE = "youtube"


class SourceError(ValueError):
    """A whole source cannot be read (missing file, expired token, bad feed); one line."""


class TokenError(SourceError):
    """An API token is missing, expired or refused (e.g. Graph error code 190)."""


@dataclass(frozen=True)
class ChannelRef:
    """A channel named ``platform:handle`` (e.g. ``instagram:@acme``)."""

    platform: Platform
    handle: str

    @classmethod
    def parse(cls, text: str) -> ChannelRef:
        """Parse ``platform:handle``.

        Raises:
            ValueError: for a missing colon, an empty handle or an unknown platform.
        """
        platform, sep, handle = text.strip().partition(":")
        if not sep or not handle.strip():
            raise ValueError(f"channel {text!r} must look like platform:handle")
        try:
            plat = Platform(platform.strip().lower())
        except ValueError:
            known = ", ".join(p.value for p in Platform)
            raise ValueError(f"unknown platform {platform!r} in channel {text!r} "
                             f"(known: {known})") from None
        return cls(plat, handle.strip())

    def __str__(self) -> str:
        return f"{self.platform.value}:{self.handle}"


@dataclass
class PostMetadata:
    """What a post says about the media it carries; every field optional."""

    posted_at: datetime | None = None
    caption: str | None = None
    permalink: str | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    views: int | None = None
    channel: ChannelRef | None = None
    campaign: str | None = None
    ambassador: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def assigned(cls, *, campaign: str | None = None, channel: str | None = None,
                 ambassador: str | None = None) -> PostMetadata:
        """The job-level assignments (empty strings count as none).

        Raises:
            ValueError: for a malformed ``channel`` (``platform:handle``).
        """
        return cls(campaign=campaign or None, ambassador=ambassador or None,
                   channel=ChannelRef.parse(channel) if channel else None)


@dataclass
class Candidate:
    """One thing to ingest: a local file or a URL, or a refusal with its reason.

    Attributes:
        source: what the item is called in the run's outcomes (path, ``zip!/entry``, URL).
        url: http(s) address to download, if remote.
        path: local file, if local (for archives, the safely extracted entry).
        meta: the post's metadata.
        error: set when the candidate is refused before download (bad row, unsafe entry).
    """

    source: str
    url: str | None = None
    path: Path | None = None
    meta: PostMetadata = field(default_factory=PostMetadata)
    error: str | None = None

    def __post_init__(self) -> None:
        if self.error is None and (self.url is None) == (self.path is None):
            raise ValueError(f"candidate {self.source!r} needs exactly one of url and path")


@dataclass
class SourceContext:
    """What a source may use: a scratch folder (removed after the job) and the fetcher."""

    scratch: Path
    fetcher: Fetcher


@dataclass(frozen=True)
class SourceRequest:
    """What a registered source is built from (see ``ingest.sources``).

    Attributes:
        targets: what to read, in the source's own terms: paths, a URL, an account id.
        meta: the job-level assignments every candidate carries (campaign, channel, …).
        token: API token or key (None: the source reads it from the environment).
        base_url: API base URL (tests, proxies; None: the source's default).
        base_dir: folder that relative paths start at (manifests).
    """

    targets: tuple[str, ...]
    meta: PostMetadata = field(default_factory=PostMetadata)
    token: str | None = None
    base_url: str | None = None
    base_dir: Path | None = None

    def one_target(self, what: str) -> str:
        """The single target of a source that reads one thing.

        Raises:
            ValueError: for none or several.
        """
        if len(self.targets) != 1 or not str(self.targets[0]).strip():
            raise ValueError(f"give exactly one {what}, got {len(self.targets)}")
        return str(self.targets[0]).strip()


class Source(Protocol):
    """Anything that yields candidates; raise :class:`SourceError` if it cannot go on.

    ``kind`` is stored with the run (a :class:`SourceKind` value or a plug-in's name);
    ``label`` names what was read (shown in the Jobs page).
    """

    kind: str

    @property
    def label(self) -> str: ...

    def candidates(self, ctx: SourceContext) -> Iterator[Candidate]:
        """Yield every candidate, in source order."""
        ...


class SourceFactory(Protocol):
    """Builds a source from a request (a source class's ``from_request``)."""

    def __call__(self, request: SourceRequest, /) -> Source: ...


def parse_time(text: str | None) -> datetime | None:
    """Parse ISO-8601 (``Z`` or ``+0000`` offsets, or a bare date) or RFC-822 to aware UTC.

    Raises:
        ValueError: if the text is not a date.
    """
    if text is None or not str(text).strip():
        return None
    raw = str(text).strip()
    iso = raw.replace("Z", "+00:00")
    if len(iso) > 5 and iso[-5] in "+-" and iso[-3] != ":" and "T" in iso:
        iso = iso[:-2] + ":" + iso[-2:]
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            dt = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{raw!r} is not a date (ISO 8601 expected)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_count(value: Any, name: str) -> int | None:
    """A non-negative whole number (``"1,234"`` allowed) or None for empty.

    Raises:
        ValueError: for anything else.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} {value!r} is not a whole number")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    else:
        text = str(value).strip().replace(",", "").replace("_", "")
        if not text.lstrip("-").isdigit():
            raise ValueError(f"{name} {value!r} is not a whole number")
        n = int(text)
    if n < 0:
        raise ValueError(f"{name} {value!r} is negative")
    return n
