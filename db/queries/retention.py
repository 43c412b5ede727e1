"""Retention in the database: which assets' media, and which assets, a policy removes.

An asset's *analysis time* is when the run of its latest analyzed outcome finished (or
started, for a run still open). Media retention marks assets (``media_removed_at``) whose
media the store then drops; their faces, outcomes and counts stay. Full retention erases
assets stored before a cut-off (:func:`db.queries.erasure.erase_asset_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import AnalysisRun, Asset, AssetAnalysis, AssetStatus

REMOVED_BY_POLICY = "removed by retention policy"
"""What pages and reports say where an asset's media are no longer stored."""


def analyzed_at():
    """Subquery ``(asset_id, analyzed_at)``: when each asset was last analyzed."""
    return (select(AssetAnalysis.asset_id.label("asset_id"),
                   func.max(func.coalesce(AnalysisRun.finished_at, AnalysisRun.started_at))
                   .label("analyzed_at"))
            .join(AnalysisRun, AnalysisRun.id == AssetAnalysis.run_id)
            .where(AssetAnalysis.status == AssetStatus.ANALYZED)
            .group_by(AssetAnalysis.asset_id).subquery("analyzed"))


def media_due(*, session: Session, before: datetime) -> list[tuple[int, str]]:
    """``(asset id, media file)`` of analyzed assets whose media are still kept and whose
    analysis is older than ``before``, by id."""
    at = analyzed_at()
    rows = session.execute(
        select(Asset.id, Asset.media_path).join(at, at.c.asset_id == Asset.id)
        .where(Asset.media_removed_at.is_(None), at.c.analyzed_at < before)
        .order_by(Asset.id))
    return [(int(a), str(p)) for a, p in rows]


def assets_stored_before(*, session: Session, before: datetime) -> list[int]:
    """Ids of the assets stored before ``before``."""
    return [int(a) for a in session.scalars(select(Asset.id).where(Asset.created_at < before)
                                            .order_by(Asset.id))]


def mark_media_removed(*, session: Session, asset_ids: Iterable[int], at: datetime) -> int:
    """Record that the policy removed these assets' media; returns how many were marked."""
    ids = sorted({int(i) for i in asset_ids})
    if not ids:
        return 0
    done = session.execute(update(Asset).where(Asset.id.in_(ids),
                                               Asset.media_removed_at.is_(None))
                           .values(media_removed_at=at)
                           .execution_options(synchronize_session=False))
    return int(done.rowcount or 0)


__all__ = ["REMOVED_BY_POLICY", "analyzed_at", "assets_stored_before", "mark_media_removed",
           "media_due"]
