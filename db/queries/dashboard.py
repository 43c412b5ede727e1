"""Dashboard queries besides the counts: groups and their names, the runs behind a
selection, the data version that keys the caches, the sidebar's options.

The counts themselves come from one scan per page (:mod:`db.queries.dashboard_cube`),
under the one counted-face rule (:mod:`db.queries.selection`); the numbers a page shows
are derived from that scan in :mod:`brandmood.services.dashboard`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, func, select, type_coerce
from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope
from db.models import (
    Ambassador,
    AnalysisRun,
    Asset,
    AssetAnalysis,
    Campaign,
    Channel,
    ErasureLog,
    Face,
    IngestItem,
    IngestRun,
    Platform,
    Review,
    RollupAssets,
)
from db.queries.consensus import reviews_per_face
from db.queries.selection import (
    DashboardFilters,
    ambassador_key,
    in_scope,
    rollup_conditions,
)

ENGAGEMENT_METRICS = ("likes", "comments", "shares", "views")


class GroupBy(enum.StrEnum):
    """What a distribution is grouped by."""

    CAMPAIGN = "campaign"
    CHANNEL = "channel"
    AMBASSADOR = "ambassador"
    PLATFORM = "platform"


@dataclass(frozen=True)
class DataVersion:
    """Cheap fingerprint that changes whenever a job or a person writes."""

    values: tuple[int, ...]


def data_version(*, session: Session) -> DataVersion:
    """Max ids and counts of the tables jobs and reviewers write (a few index lookups), the
    reviews per face (k) the consensus labels depend on, and the newest review's time;
    every erasure and retention pass adds an :class:`~db.models.ErasureLog` row, so what
    they delete or detach changes the version too."""
    parts = [func.coalesce(select(func.max(m.id)).scalar_subquery(), 0)
             for m in (Face, Review, Asset, AnalysisRun, AssetAnalysis, IngestRun, IngestItem,
                       ErasureLog)]
    parts.append(reviews_per_face())
    done = select(func.count(AnalysisRun.id)).where(AnalysisRun.finished_at.is_not(None))
    # a relabel replaces a review, and SQLite may give the new row the old (highest) id
    relabeled = select(func.max(Review.created_at)).scalar_subquery()
    *row, last_review = session.execute(select(*parts, done.scalar_subquery(), relabeled)).one()
    stamp = round(last_review.timestamp() * 1e6) if last_review is not None else 0
    return DataVersion((*(int(v or 0) for v in row), stamp))


def group_key(group: GroupBy) -> ColumnElement:
    """SQL expression of a group's key."""
    if group is GroupBy.CAMPAIGN:
        return Asset.campaign_id
    if group is GroupBy.CHANNEL:
        return Asset.channel_id
    if group is GroupBy.AMBASSADOR:
        return ambassador_key()
    if group is GroupBy.PLATFORM:
        return select(type_coerce(Channel.platform, String)).where(
            Channel.id == Asset.channel_id).scalar_subquery()
    raise ValueError(f"unknown group {group!r}")


def group_names(*, session: Session, group: GroupBy,
                filters: DashboardFilters) -> dict[str, str]:
    """Display name of every group key of the selection's brand, or of every brand in its
    scope (keys as strings; ``"none"`` for NULL)."""
    names: dict[str, str] = {"none": "(none)"}
    if group is GroupBy.PLATFORM:
        names.update({p.value: p.value for p in Platform})
        return names
    model = {GroupBy.CAMPAIGN: Campaign, GroupBy.CHANNEL: Channel,
             GroupBy.AMBASSADOR: Ambassador}[group]
    q = select(model)
    if filters.brand_id is not None:
        q = q.where(model.brand_id == filters.brand_id)
    else:
        q = q.where(in_scope(model.brand_id, filters.scope))
    for obj in session.scalars(q):
        names[str(obj.id)] = obj.label if isinstance(obj, Channel) else obj.name
    return names


def day_bucket(dialect: str) -> ColumnElement[str]:
    """SQL expression of a posting's UTC day as ``YYYY-MM-DD`` text (cheap per row)."""
    if dialect == "sqlite":
        return func.substr(Asset.posted_at, 1, 10)  # stored as ISO text
    return func.to_char(func.timezone("UTC", Asset.posted_at), "YYYY-MM-DD")


def selection_runs(*, session: Session, filters: DashboardFilters) -> Sequence[AnalysisRun]:
    """The analysis runs behind the selection's numbers (each asset's current run), by id.

    Read from ``rollup_assets`` (its key holds each asset's current run; the asset filters
    apply to it as to the assets: :func:`~db.queries.selection.rollup_conditions`).
    """
    t = RollupAssets.__table__
    run_ids = select(t.c.run_id).where(*rollup_conditions(t, filters)).distinct()
    return session.scalars(select(AnalysisRun).where(
        AnalysisRun.id.in_(run_ids)).order_by(AnalysisRun.id)).all()


def model_versions(*, session: Session, filters: DashboardFilters) -> list[str]:
    """``name@version`` of the analysis runs behind the selection's numbers."""
    return sorted({f"{r.model_name}@{r.model_version}"
                   for r in selection_runs(session=session, filters=filters)})


def brand_options(*, session: Session, brand_id: int,
                  scope: BrandScope) -> dict[str, dict[int, str]]:
    """Names of a brand's campaigns, channels and ambassadors (for the filter widgets).

    Raises:
        AccessDenied: the brand is outside ``scope``.
    """
    scope.check(brand_id, f"brand #{brand_id}")
    out: dict[str, dict[int, str]] = {}
    for name, model in (("campaign", Campaign), ("channel", Channel),
                        ("ambassador", Ambassador)):
        rows = session.scalars(select(model).where(model.brand_id == brand_id)
                               .order_by(model.id)).all()
        out[name] = {r.id: (r.label if isinstance(r, Channel) else r.name) for r in rows}
    return out

