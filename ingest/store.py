"""Bookkeeping: every candidate ends as exactly one stored, duplicate or failed item.

One short transaction per item. The media file is renamed into the content-addressed
store (atomic) before the row that points to it commits, so a kill at any moment leaves
either nothing or a complete file that the re-run adopts. Exact duplicates (same
sha256 for the brand) are linked to the existing asset through ``AssetPost``; a race
between two jobs on ``(brand_id, sha256)`` ends as an ``IntegrityError`` that is
rolled back and re-read as a duplicate. SQLite "database is locked" answers are retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from db.models import AssetStatus, Brand, Outcome
from db.queries import core
from db.queries import ingest as q
from db.workspace import Workspace
from ingest.base import Candidate, PostMetadata
from ingest.media import MediaInfo

T = TypeVar("T")
NEAR_DUPLICATE_BITS = 6
"""Perceptual hashes this close (Hamming distance, of 64 bits) mark the same creative."""

_LOCK_RETRIES = 20


@dataclass(frozen=True)
class Prepared:
    """A candidate downloaded (or copied) into the job's scratch folder and probed."""

    candidate: Candidate
    tmp: Path
    sha256: str
    size: int
    info: MediaInfo


@dataclass(frozen=True)
class ItemOutcome:
    """What became of one candidate."""

    source: str
    outcome: Outcome
    reason: str | None = None
    asset_id: int | None = None


def _locked(exc: OperationalError) -> bool:
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return "locked" in text or "busy" in text or "deadlock" in text


def with_retries(ws: Workspace, op: Callable[[Session], T], *,
                 on_integrity: Callable[[Session], T] | None = None) -> T:
    """Run ``op`` in its own transaction, retrying lock timeouts.

    Args:
        on_integrity: run in a fresh transaction if ``op`` hits a unique-constraint race.
    """
    for attempt in range(_LOCK_RETRIES):
        session = ws.session()
        try:
            result = op(session)
            session.commit()
            return result
        except IntegrityError:
            session.rollback()
            if on_integrity is None:
                raise
            op, on_integrity = on_integrity, None
        except OperationalError as exc:
            session.rollback()
            if not _locked(exc) or attempt + 1 == _LOCK_RETRIES:
                raise
            time.sleep(min(0.05 * (attempt + 1), 1.0))
        finally:
            session.close()
    raise RuntimeError("database stayed locked")  # pragma: no cover


class Bookkeeper:
    """Writes one run's outcomes; resolves campaign, channel and ambassador names."""

    def __init__(self, ws: Workspace, *, brand_id: int, run_id: int,
                 near_bits: int = NEAR_DUPLICATE_BITS) -> None:
        self.ws, self.brand_id, self.run_id, self.near_bits = ws, brand_id, run_id, near_bits
        self._refs: dict[tuple[str, str], int] = {}
        self._phashes: list[tuple[int, int]] = with_retries(ws, lambda s: [
            (i, int(p, 16)) for i, p in q.brand_phashes(s, brand_id=brand_id)])

    def record(self, source: str, outcome: Outcome, reason: str | None = None,
               asset_id: int | None = None) -> ItemOutcome:
        """Record an outcome decided without storing anything (failed, already known)."""
        with_retries(self.ws, lambda s: q.add_item(
            s, run_id=self.run_id, source=source, outcome=outcome, reason=reason,
            asset_id=asset_id))
        return ItemOutcome(source, outcome, reason, asset_id)

    def _ref_ids(self, session: Session, meta: PostMetadata) -> dict[str, int | None]:
        brand = session.get(Brand, self.brand_id)
        out: dict[str, int | None] = {"channel_id": None, "campaign_id": None,
                                      "ambassador_id": None}
        if meta.channel is not None:
            out["channel_id"] = core.get_or_create_channel(
                session, brand=brand, platform=meta.channel.platform,
                handle=meta.channel.handle).id
        if meta.campaign:
            out["campaign_id"] = core.get_or_create_campaign(
                session, brand=brand, name=meta.campaign).id
        if meta.ambassador:
            amb = core.find_ambassador_by_handle(session=session, brand=brand,
                                                 handle=meta.ambassador)
            if amb is None:
                name = meta.ambassador.strip().lstrip("@")
                amb = core.get_or_create_ambassador(session, brand=brand, name=name,
                                                    handles=[meta.ambassador.strip()])
            out["ambassador_id"] = amb.id
        return out

    def refs(self, meta: PostMetadata) -> dict[str, int | None]:
        """Ids of the meta's channel, campaign and ambassador (created when missing)."""
        key = (str(meta.channel), f"{meta.campaign}|{meta.ambassador}")
        if key not in self._refs:
            self._refs[key] = with_retries(self.ws, lambda s: self._ref_ids(s, meta),
                                           on_integrity=lambda s: self._ref_ids(s, meta))
        return self._refs[key]

    def near_duplicate(self, phash: str) -> tuple[int, int] | None:
        """(asset id, distance) of the closest earlier asset within ``near_bits``."""
        value = int(phash, 16)
        best = min(((i, (value ^ p).bit_count()) for i, p in self._phashes),
                   key=lambda t: t[1], default=None)
        return best if best is not None and best[1] <= self.near_bits else None

    def _duplicate(self, session: Session, prep: Prepared, refs: dict) -> ItemOutcome:
        c, meta = prep.candidate, prep.candidate.meta
        asset = q.asset_by_sha(session, brand_id=self.brand_id, sha256=prep.sha256)
        if asset is None:
            raise LookupError("asset vanished")  # pragma: no cover - deleted meanwhile
        if q.post_exists(session, asset_id=asset.id, source_uri=c.source):
            reason = "already ingested from this source"
        else:
            q.add_post(session, asset_id=asset.id, source_uri=c.source,
                       permalink=meta.permalink, channel_id=refs["channel_id"],
                       posted_at=meta.posted_at)
            reason = f"same content as asset {asset.id}"
        q.add_item(session, run_id=self.run_id, source=c.source, outcome=Outcome.DUPLICATE,
                   reason=reason, asset_id=asset.id)
        return ItemOutcome(c.source, Outcome.DUPLICATE, reason, asset.id)

    def _store(self, session: Session, prep: Prepared, refs: dict) -> ItemOutcome:
        if q.asset_by_sha(session, brand_id=self.brand_id, sha256=prep.sha256) is not None:
            return self._duplicate(session, prep, refs)
        c, meta, info = prep.candidate, prep.candidate.meta, prep.info
        stored = self.ws.media.adopt(prep.tmp, sha256=prep.sha256, suffix=info.suffix,
                                     size=prep.size)
        near = self.near_duplicate(info.phash)
        asset = q.add_asset(
            session, brand_id=self.brand_id, kind=info.kind, source_uri=c.source,
            permalink=meta.permalink, posted_at=meta.posted_at, caption=meta.caption,
            likes=meta.likes, comments=meta.comments, shares=meta.shares, views=meta.views,
            sha256=prep.sha256, phash=info.phash, width=info.width, height=info.height,
            duration_s=info.duration_s, fps=info.fps,
            orientation=info.orientation,
            media_path=stored.relpath, status=AssetStatus.PENDING,
            near_duplicate_of=near[0] if near else None,
            extra={**meta.extra, "bytes": prep.size,
                   **({"rotation": info.rotation} if info.rotation is not None else {}),
                   **({"frames": info.frames} if info.frames > 1 else {})},
            **refs)
        q.add_post(session, asset_id=asset.id, source_uri=c.source, permalink=meta.permalink,
                   channel_id=refs["channel_id"], posted_at=meta.posted_at)
        reason = f"near-duplicate of asset {near[0]} (distance {near[1]})" if near else None
        q.add_item(session, run_id=self.run_id, source=c.source, outcome=Outcome.STORED,
                   reason=reason, asset_id=asset.id)
        return ItemOutcome(c.source, Outcome.STORED, reason, asset.id)

    def record_prepared(self, prep: Prepared) -> ItemOutcome:
        """Store a prepared candidate as a new asset, or link it as a duplicate."""
        refs = self.refs(prep.candidate.meta)
        try:
            out = with_retries(self.ws, lambda s: self._store(s, prep, refs),
                               on_integrity=lambda s: self._duplicate(s, prep, refs))
        finally:
            prep.tmp.unlink(missing_ok=True)
        if out.outcome is Outcome.STORED and out.asset_id is not None:
            self._phashes.append((out.asset_id, int(prep.info.phash, 16)))
        return out
