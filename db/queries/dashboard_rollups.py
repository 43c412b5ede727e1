"""The dashboard's :class:`~db.queries.dashboard_cube.Cube` read from the rollups.

The rollups (:mod:`db.queries.rollups`) hold the default view's counts per brand, posting
day, campaign, channel (and face ambassador, label, dominant label, metric value), so a page
reads at most a few thousand rows per brand and day range instead of every asset and face.
They serve the views the per-asset summary serves (model labels, no minimum confidence, no
ambassador filter: :func:`~db.queries.dashboard_cube.summary_serves`); the engagement
histograms carry no day, so a dated view with engagement is left to the scan. The cube is
the same as the scan's (a test checks), and every query carries the selection's brand
scope (:func:`db.queries.selection.in_scope`), like :func:`~db.queries.selection.asset_conditions`.
"""

from __future__ import annotations

from sqlalchemy import String, Table, cast, func, select
from sqlalchemy.orm import Session

from brandmood.core.types import LABELS, UNCERTAIN, add_counts
from db.models import (
    NO_DAY,
    NO_ID,
    NO_VALUE,
    Channel,
    RollupAssets,
    RollupEngagement,
    RollupFaces,
)
from db.queries.dashboard import GroupBy
from db.queries.dashboard_cube import Cube, summary_serves
from db.queries.selection import DashboardFilters, in_scope, rollup_conditions


def rollups_serve(filters: DashboardFilters, group: GroupBy | None, *,
                  engagement: bool) -> bool:
    """Whether the rollups give the same cube as the face scan for this view."""
    dated = filters.date_from is not None or filters.date_to is not None
    return summary_serves(filters, group) and not (engagement and dated)


def _key(value: object) -> str:
    return "none" if value is None or value == NO_ID else str(value)


def _label_sums(t: Table, filters: DashboardFilters) -> tuple[list[str], list]:
    """The counted labels and the sum of each one's column."""
    labels = [lbl for lbl in LABELS if filters.include_uncertain or lbl != UNCERTAIN]
    return labels, [func.sum(t.c[f"n_{lbl}"]) for lbl in labels]


def _counts(labels: list[str], values) -> dict[str, int]:
    return {lbl: int(v) for lbl, v in zip(labels, values, strict=True) if v}


def _faces(session: Session, filters: DashboardFilters, group: GroupBy | None,
           out: Cube) -> None:
    """Faces per day, and per group with a group, into ``out`` (one query each: the days
    follow the key's order; the group query sums a few thousand rows into a few groups;
    a platform is its channels' sum)."""
    t = RollupFaces.__table__
    labels, sums = _label_sums(t, filters)
    cond = rollup_conditions(t, filters)
    for day, *values in session.execute(select(t.c.day, *sums).where(*cond)
                                        .group_by(t.c.day)):
        add_counts(out.days.setdefault(None if day == NO_DAY else str(day), {}),
                   _counts(labels, values))
    if group is None:
        return
    col = {GroupBy.CAMPAIGN: t.c.campaign_id, GroupBy.CHANNEL: t.c.channel_id,
           GroupBy.PLATFORM: t.c.channel_id, GroupBy.AMBASSADOR: t.c.ambassador_id}[group]
    platform: dict[int, str] = {}
    if group is GroupBy.PLATFORM:
        brand = (Channel.brand_id == filters.brand_id if filters.brand_id is not None
                 else in_scope(Channel.brand_id, filters.scope))
        platform = {int(i): str(p) for i, p in session.execute(
            select(Channel.id, cast(Channel.platform, String)).where(brand))}
    for key, *values in session.execute(select(col, *sums).where(*cond).group_by(col)):
        if counts := _counts(labels, values):
            name = platform.get(int(key)) if group is GroupBy.PLATFORM else key
            add_counts(out.groups.setdefault(_key(name), {}), counts)
    for k in [k for k, v in out.groups.items() if not v]:
        del out.groups[k]


def rollup_cube(*, session: Session, filters: DashboardFilters, group: GroupBy | None = None,
                engagement: bool = False) -> Cube:
    """The selection's :class:`Cube` from the rollups.

    Raises:
        ValueError: the rollups cannot serve this view (:func:`rollups_serve`).
    """
    if not rollups_serve(filters, group, engagement=engagement):
        raise ValueError("the rollups cannot serve these filters, this group or engagement "
                         "over a date range")
    out = Cube()
    ta = RollupAssets.__table__
    dom = ta.c.dominant if filters.include_uncertain else ta.c.dominant_certain
    n = ta.c.n_assets
    q = (select(ta.c.day, func.sum(n), func.sum(n).filter(ta.c.analyzed),
                func.sum(n).filter(dom != NO_DAY))
         .where(*rollup_conditions(ta, filters)).group_by(ta.c.day))
    for day, assets, analyzed, with_faces in session.execute(q):
        key = None if day == NO_DAY else str(day)
        out.day_assets[key] = (int(assets or 0), int(analyzed or 0), int(with_faces or 0))
        out.days[key] = {}
    _faces(session, filters, group, out)
    if engagement:
        _histograms(session, filters, out)
    return out


def _histograms(session: Session, filters: DashboardFilters, out: Cube) -> None:
    """Metric → asset-dominant label → ``[(value or None, assets)]`` (all time)."""
    te = RollupEngagement.__table__
    dom = te.c.dominant if filters.include_uncertain else te.c.dominant_certain
    q = (select(te.c.metric, dom, te.c.value, func.sum(te.c.n_assets))
         .where(*rollup_conditions(te, filters, dated=False), dom != NO_DAY)
         .group_by(te.c.metric, dom, te.c.value))
    for metric, label, value, count in session.execute(q):
        if count:
            out.histograms.setdefault(str(metric), {}).setdefault(str(label), []).append(
                (None if value == NO_VALUE else float(value), int(count)))
