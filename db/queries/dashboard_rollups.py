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

from sqlalchemy import ColumnElement, String, Table, cast, func, select
from sqlalchemy.orm import Session

from brandmood.core.types import UNCERTAIN, add_counts
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
from db.queries.selection import DashboardFilters, rollup_conditions


def rollups_serve(filters: DashboardFilters, group: GroupBy | None, *,
                  engagement: bool) -> bool:
    """Whether the rollups give the same cube as the face scan for this view."""
    dated = filters.date_from is not None or filters.date_to is not None
    return summary_serves(filters, group) and not (engagement and dated)


def _key(value: object) -> str:
    return "none" if value is None or value == NO_ID else str(value)


def _group_query(t: Table, group: GroupBy, cond: list[ColumnElement[bool]]):
    if group is GroupBy.PLATFORM:
        key = cast(Channel.platform, String)
        frm = t.outerjoin(Channel.__table__, Channel.id == t.c.channel_id)
    else:
        key = {GroupBy.CAMPAIGN: t.c.campaign_id, GroupBy.CHANNEL: t.c.channel_id,
               GroupBy.AMBASSADOR: t.c.ambassador_id}[group]
        frm = t
    return (select(key, t.c.label, func.sum(t.c.n_faces)).select_from(frm)
            .where(*cond).group_by(key, t.c.label))


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
    tf = RollupFaces.__table__
    cond = rollup_conditions(tf, filters)
    if not filters.include_uncertain:
        cond.append(tf.c.label != UNCERTAIN)
    q = (select(tf.c.day, tf.c.label, func.sum(tf.c.n_faces)).where(*cond)
         .group_by(tf.c.day, tf.c.label))
    for day, label, count in session.execute(q):
        add_counts(out.days.setdefault(None if day == NO_DAY else str(day), {}),
                   {str(label): int(count)})
    if group is not None:
        for key, label, count in session.execute(_group_query(tf, group, cond)):
            add_counts(out.groups.setdefault(_key(key), {}), {str(label): int(count)})
        for k in [k for k, v in out.groups.items() if not v]:
            del out.groups[k]
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
