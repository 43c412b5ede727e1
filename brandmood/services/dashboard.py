"""The numbers a dashboard page shows, derived from its one scan (a :class:`Cube`).

:mod:`db.queries.dashboard_cube` scans a selection once and returns its compact cube;
this module turns it into KPIs, distributions, trends and engagement statistics with
:mod:`analytics.aggregate`. Pages (through :mod:`brandmood.ui.data`'s cache), reports and
the CLI call :func:`page_data` and read what they need from it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.orm import Session

from analytics.aggregate import MeanStats, positive_share, weighted_mean_stats
from brandmood.core.types import LABELS, UNCERTAIN, dominant_label
from db.queries.dashboard import ENGAGEMENT_METRICS, GroupBy
from db.queries.dashboard_cube import Cube, cube, total_counts
from db.queries.dashboard_rollups import rollup_cube, rollups_serve
from db.queries.selection import DashboardFilters


class Period(enum.StrEnum):
    """Time bucket of a trend."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Kpis:
    """Headline numbers of a selection.

    Attributes:
        assets: assets matching the asset filters.
        analyzed_assets: those analyzed successfully.
        assets_with_faces: analyzed assets with at least one counted face.
        faces: counted faces.
        counts: label (emotion value or ``"uncertain"``) → faces.
    """

    assets: int
    analyzed_assets: int
    assets_with_faces: int
    faces: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def face_post_share(self) -> float:
        return self.assets_with_faces / self.analyzed_assets if self.analyzed_assets else 0.0

    @property
    def dominant(self) -> str | None:
        return dominant_label(self.counts)

    @property
    def positive_share(self) -> float:
        return positive_share(self.counts)

    @property
    def uncertain_share(self) -> float:
        return self.counts.get(UNCERTAIN, 0) / self.faces if self.faces else 0.0


@dataclass(frozen=True)
class GroupCount:
    """Faces of one label in one group (or one period for a trend)."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class EngagementRow:
    """Engagement of assets whose dominant face label is ``label``, per metric."""

    label: str
    assets: int
    metrics: dict[str, MeanStats]


def period_start(day: str, period: Period) -> str:
    """First day (``YYYY-MM-DD``) of the day's period: itself, its Monday, its month's 1st."""
    d = date.fromisoformat(day[:10])
    if period is Period.WEEK:
        d -= timedelta(days=d.weekday())
    elif period is Period.MONTH:
        d = d.replace(day=1)
    return d.isoformat()


def kpis_from(c: Cube) -> Kpis:
    """Headline numbers of the selection."""
    counts = total_counts(c)
    n, analyzed, with_faces = (sum(v[i] for v in c.day_assets.values()) for i in range(3))
    return Kpis(n, analyzed, with_faces, sum(counts.values()), counts)


def trend_from(c: Cube, period: Period = Period.WEEK) -> list[GroupCount]:
    """Faces per (period start, label), oldest first; undated faces left out."""
    out: dict[tuple[str, str], int] = {}
    for day, counts in c.days.items():
        if day is None:
            continue
        start = period_start(day, period)
        for lbl, n in counts.items():
            out[(start, lbl)] = out.get((start, lbl), 0) + n
    return [GroupCount(k, lbl, n) for (k, lbl), n in sorted(
        out.items(), key=lambda kv: (kv[0][0], LABELS.index(kv[0][1])))]


def distribution_from(c: Cube) -> list[GroupCount]:
    """Faces per (group, label), groups in key order, labels in the fixed order."""
    return [GroupCount(k, lbl, c.groups[k][lbl]) for k in sorted(c.groups)
            for lbl in LABELS if c.groups[k].get(lbl)]


def engagement_from(c: Cube) -> list[EngagementRow]:
    """Mean/median engagement per asset-dominant label (each asset under its top label),
    with 95 % intervals of the mean (exact, from the cube's histograms)."""
    out = []
    first = c.histograms.get(ENGAGEMENT_METRICS[0], {})
    for lbl in LABELS:
        if lbl not in first:
            continue
        stats = {}
        for m in ENGAGEMENT_METRICS:
            hist = c.histograms.get(m, {}).get(lbl, [])
            stats[m] = weighted_mean_stats([v for v, _ in hist], [n for _, n in hist])
        out.append(EngagementRow(lbl, sum(n for _, n in first[lbl]), stats))
    return out


@dataclass(frozen=True)
class PageData:
    """Everything a dashboard page shows, derived from one :class:`Cube`."""

    cube: Cube

    def kpis(self) -> Kpis:
        return kpis_from(self.cube)

    def label_counts(self) -> dict[str, int]:
        """Faces per label (emotions and ``"uncertain"``) of the selection."""
        return total_counts(self.cube)

    def trend(self, period: Period = Period.WEEK) -> list[GroupCount]:
        return trend_from(self.cube, period)

    def distribution(self) -> list[GroupCount]:
        """Faces per (group, label) of the page's group (empty without one)."""
        return distribution_from(self.cube)

    def engagement(self) -> list[EngagementRow]:
        """Engagement per asset-dominant label (empty without a group)."""
        return engagement_from(self.cube)


def page_data(*, session: Session, filters: DashboardFilters, group: GroupBy | None = None,
              use_summary: bool | None = None, use_rollups: bool = True) -> PageData:
    """The data of the Overview page (``group`` None) or of a group page.

    A group page also gets the engagement histograms. Read from the rollups
    (:mod:`db.queries.dashboard_rollups`) wherever they serve the view, ``use_rollups``
    holds and ``use_summary`` is None; else one scan, ``use_summary`` as in
    :func:`db.queries.dashboard_cube.cube` (``use_rollups=False``: the benchmark's before).
    """
    engagement = group is not None
    if (use_rollups and use_summary is None
            and rollups_serve(filters, group, engagement=engagement)):
        return PageData(rollup_cube(session=session, filters=filters, group=group,
                                    engagement=engagement))
    return PageData(cube(session=session, filters=filters, group=group,
                         engagement=engagement, use_summary=use_summary))
