"""Ingest bookkeeping: runs, one outcome row per candidate, assets and their posts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import (
    Asset,
    AssetPost,
    Brand,
    IngestItem,
    IngestRun,
    Outcome,
    RunStatus,
    utcnow,
)
from db.queries.rollups import refresh_rollups

_IN_CHUNK = 500


def brand_id_by_name(session: Session, *, name: str) -> int | None:
    """Id of the brand called ``name``, or None."""
    return session.scalar(select(Brand.id).where(Brand.name == name))


def create_run(session: Session, *, brand_id: int, source_kind: str, source: str) -> IngestRun:
    """A new running ingest run."""
    run = IngestRun(brand_id=brand_id, source_kind=source_kind, source=source,
                    status=RunStatus.RUNNING)
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, *, run_id: int, status: RunStatus) -> None:
    """Mark a run done or failed, now."""
    run = session.get(IngestRun, run_id)
    if run is None:
        raise LookupError(f"no ingest run {run_id}")
    run.status = status
    run.finished_at = utcnow()


def fail_running_runs(session: Session, *, run_ids: Iterable[int]) -> int:
    """Mark those of ``run_ids`` still running as failed (their process died); how many."""
    n = 0
    for run in session.scalars(select(IngestRun).where(IngestRun.id.in_(list(run_ids)),
                                                       IngestRun.status == RunStatus.RUNNING)):
        run.status = RunStatus.FAILED
        run.finished_at = utcnow()
        n += 1
    return n


def add_item(session: Session, *, run_id: int, source: str, outcome: Outcome,
             reason: str | None = None, asset_id: int | None = None) -> IngestItem:
    """Record one candidate's outcome."""
    item = IngestItem(run_id=run_id, source=source, outcome=outcome, reason=reason,
                      asset_id=asset_id)
    session.add(item)
    return item


def known_sources(session: Session, *, brand_id: int,
                  sources: Iterable[str]) -> dict[str, int]:
    """Which of ``sources`` the brand already has a post for: source -> asset id."""
    found: dict[str, int] = {}
    wanted = list(dict.fromkeys(sources))
    for i in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[i:i + _IN_CHUNK]
        rows = session.execute(
            select(AssetPost.source_uri, AssetPost.asset_id)
            .join(Asset, Asset.id == AssetPost.asset_id)
            .where(Asset.brand_id == brand_id, AssetPost.source_uri.in_(chunk)))
        for source, asset_id in rows:
            found.setdefault(source, asset_id)
    return found


def post_exists(session: Session, *, asset_id: int, source_uri: str) -> bool:
    """True if the asset already has a post from ``source_uri``."""
    return session.scalar(select(func.count(AssetPost.id)).where(
        AssetPost.asset_id == asset_id, AssetPost.source_uri == source_uri)) > 0


def asset_by_sha(session: Session, *, brand_id: int, sha256: str) -> Asset | None:
    """The brand's asset with this content hash, if any."""
    return session.scalar(select(Asset).where(Asset.brand_id == brand_id,
                                              Asset.sha256 == sha256))


def brand_phashes(session: Session, *, brand_id: int) -> list[tuple[int, str]]:
    """(asset id, perceptual hash) of every hashed asset of the brand, oldest first."""
    rows = session.execute(select(Asset.id, Asset.phash).where(
        Asset.brand_id == brand_id, Asset.phash.is_not(None)).order_by(Asset.id))
    return [(int(i), str(p)) for i, p in rows]


def add_asset(session: Session, **fields: Any) -> Asset:
    """Insert an asset (fields as in :class:`db.models.Asset`) and flush for its id."""
    asset = Asset(**fields)
    session.add(asset)
    session.flush()
    refresh_rollups(session=session, asset_ids=[asset.id])
    return asset


def add_post(session: Session, *, asset_id: int, source_uri: str, permalink: str | None,
             channel_id: int | None, posted_at: datetime | None) -> AssetPost:
    """Link one post (the first, or an exact duplicate) to an asset."""
    post = AssetPost(asset_id=asset_id, source_uri=source_uri, permalink=permalink,
                     channel_id=channel_id, posted_at=posted_at)
    session.add(post)
    return post


def run_counts(session: Session, *, run_id: int) -> dict[Outcome, int]:
    """Items of a run per outcome (every outcome present, zeros included)."""
    counts = dict.fromkeys(Outcome, 0)
    for outcome, n in session.execute(select(IngestItem.outcome, func.count(IngestItem.id))
                                      .where(IngestItem.run_id == run_id)
                                      .group_by(IngestItem.outcome)):
        counts[Outcome(outcome)] = int(n)
    return counts


def run_items(session: Session, *, run_id: int) -> Sequence[IngestItem]:
    """A run's outcome rows in the order they were recorded."""
    return session.scalars(select(IngestItem).where(IngestItem.run_id == run_id)
                           .order_by(IngestItem.id)).all()


def list_runs(session: Session, *, brand_id: int | None = None,
              limit: int = 50) -> Sequence[IngestRun]:
    """Newest ingest runs first (the Jobs view)."""
    q = select(IngestRun).order_by(IngestRun.id.desc()).limit(limit)
    if brand_id is not None:
        q = q.where(IngestRun.brand_id == brand_id)
    return session.scalars(q).all()
