"""Queries of the dashboard's Jobs page: ingest and analysis runs, failures, retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from brandmood.core.access import AccessDenied, BrandScope, refusal
from db.models import (
    AnalysisRun,
    Asset,
    AssetAnalysis,
    AssetStatus,
    Brand,
    IngestItem,
    IngestRun,
    Outcome,
    RunStatus,
)
from db.queries.rollups import refresh_rollups
from db.queries.selection import in_scope


@dataclass(frozen=True)
class IngestRunRow:
    """One ingest run with its outcome counts."""

    run_id: int
    brand: str
    source_kind: str
    source: str
    status: RunStatus
    started_at: datetime | None
    finished_at: datetime | None
    stored: int
    duplicate: int
    failed: int


@dataclass(frozen=True)
class AnalysisRunRow:
    """One analysis run with its counts."""

    run_id: int
    model: str
    status: RunStatus
    started_at: datetime | None
    finished_at: datetime | None
    assets: int
    faces: int
    failed: int


@dataclass(frozen=True)
class Failure:
    """One thing that failed and why: an ingest item or an asset's analysis."""

    run_id: int | None
    source: str
    reason: str
    asset_id: int | None


def ingest_runs(*, session: Session, scope: BrandScope, limit: int = 50) -> list[IngestRunRow]:
    """Newest ingest runs of the brands in ``scope`` with stored / duplicate / failed counts."""
    runs = session.execute(select(IngestRun, Brand.name).join(Brand, Brand.id == IngestRun.brand_id)
                           .where(in_scope(IngestRun.brand_id, scope))
                           .order_by(IngestRun.id.desc()).limit(limit)).all()
    ids = [r.id for r, _ in runs]
    counts: dict[int, dict[Outcome, int]] = {}
    if ids:
        q = (select(IngestItem.run_id, IngestItem.outcome, func.count())
             .where(IngestItem.run_id.in_(ids)).group_by(IngestItem.run_id, IngestItem.outcome))
        for rid, outcome, n in session.execute(q):
            counts.setdefault(rid, {})[outcome] = int(n)
    out = []
    for run, brand in runs:
        c = counts.get(run.id, {})
        out.append(IngestRunRow(run.id, brand, run.source_kind, run.source, run.status,
                                run.started_at, run.finished_at, c.get(Outcome.STORED, 0),
                                c.get(Outcome.DUPLICATE, 0), c.get(Outcome.FAILED, 0)))
    return out


def analysis_runs(*, session: Session, scope: BrandScope, limit: int = 50) -> list[AnalysisRunRow]:
    """Newest analysis runs that analyzed an asset of a brand in ``scope``, with their
    counts (a run's counts cover every brand it analyzed)."""
    q = select(AnalysisRun)
    if not scope.is_all:
        q = q.where(exists().where(AssetAnalysis.run_id == AnalysisRun.id,
                                   AssetAnalysis.asset_id == Asset.id,
                                   in_scope(Asset.brand_id, scope)))
    runs = session.scalars(q.order_by(AnalysisRun.id.desc()).limit(limit))
    return [AnalysisRunRow(r.id, f"{r.model_name}@{r.model_version}", r.status, r.started_at,
                           r.finished_at, r.n_assets, r.n_faces, r.n_failed) for r in runs]


def ingest_failures(*, session: Session, scope: BrandScope, limit: int = 200) -> list[Failure]:
    """Failed ingest items of the brands in ``scope``, newest first."""
    q = (select(IngestItem).join(IngestRun, IngestRun.id == IngestItem.run_id)
         .where(IngestItem.outcome == Outcome.FAILED, in_scope(IngestRun.brand_id, scope))
         .order_by(IngestItem.id.desc()).limit(limit))
    return [Failure(i.run_id, i.source, i.reason or "", i.asset_id) for i in session.scalars(q)]


def analysis_failures(*, session: Session, scope: BrandScope,
                      limit: int = 200) -> list[Failure]:
    """Assets of the brands in ``scope`` whose analysis failed, with the reason."""
    q = (select(Asset).where(Asset.status == AssetStatus.FAILED,
                             in_scope(Asset.brand_id, scope))
         .order_by(Asset.id.desc()).limit(limit))
    out = []
    for a in session.scalars(q):
        run_id = session.scalar(select(func.max(AssetAnalysis.run_id))
                                .where(AssetAnalysis.asset_id == a.id))
        out.append(Failure(run_id, a.source_uri, a.error or "", a.id))
    return out


def reset_failed_assets(*, session: Session, asset_ids: list[int],
                        scope: BrandScope) -> list[int]:
    """Put failed assets of the brands in ``scope`` back to pending so an analysis run
    picks them up again.

    Returns:
        The ids that were reset (ids that are not failed or outside ``scope`` are ignored).
    """
    assets = session.scalars(select(Asset).where(Asset.id.in_(asset_ids),
                                                 Asset.status == AssetStatus.FAILED,
                                                 in_scope(Asset.brand_id, scope))).all()
    for a in assets:
        a.status = AssetStatus.PENDING
        a.error = None
    session.flush()
    refresh_rollups(session=session, asset_ids=[a.id for a in assets])
    return [a.id for a in assets]


def retryable_ingest_sources(*, session: Session, run_id: int,
                             scope: BrandScope) -> tuple[str, list[Path]]:
    """The brand and the failed local files of an ingest run that still exist.

    Raises:
        AccessDenied: the run does not exist or its brand is outside ``scope``.
    """
    run = session.get(IngestRun, run_id)
    if run is None or not scope.allows(run.brand_id):
        raise AccessDenied(refusal(f"ingest run {run_id}"))
    brand = session.scalar(select(Brand.name).where(Brand.id == run.brand_id))
    paths = [Path(i.source) for i in session.scalars(select(IngestItem).where(
        IngestItem.run_id == run_id, IngestItem.outcome == Outcome.FAILED))]
    return str(brand), [p for p in paths if p.is_file()]
