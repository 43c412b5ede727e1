"""Every query behind the dashboard: KPIs, distributions, trends, engagement, gallery, assets.

Aggregation happens here, in SQL (``GROUP BY``); pages get small typed results and never
load the faces table into memory. Which faces count: for each asset, the faces of its
latest successful analysis run (``asset_analysis``); optionally a person's review label
replaces the model's label (``DashboardFilters.use_reviews``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    Select,
    String,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import Session, aliased

from analytics.aggregate import LABELS, MeanStats, dominant_label
from brandmood.core.types import UNCERTAIN
from db.models import (
    Ambassador,
    AnalysisRun,
    Asset,
    AssetAnalysis,
    AssetStatus,
    Campaign,
    Channel,
    Face,
    IngestItem,
    IngestRun,
    Platform,
    Review,
)

ENGAGEMENT_METRICS = ("likes", "comments", "shares", "views")


class GroupBy(enum.StrEnum):
    """What a distribution is grouped by."""

    CAMPAIGN = "campaign"
    CHANNEL = "channel"
    AMBASSADOR = "ambassador"
    PLATFORM = "platform"


class Period(enum.StrEnum):
    """Time bucket of a trend."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class DashboardFilters:
    """What the sidebar selects; hashable so it can key a cache.

    Attributes:
        brand_id: the brand (None: every brand).
        campaign_ids, channel_ids, ambassador_ids: empty means all.
        platforms: channel platforms, empty means all.
        date_from, date_to: inclusive posting-date range (None: open).
        min_confidence: faces below this top probability are left out.
        include_uncertain: count faces flagged uncertain (as ``"uncertain"``).
        use_reviews: a reviewed face counts with its reviewed label.
    """

    brand_id: int | None = None
    campaign_ids: tuple[int, ...] = ()
    channel_ids: tuple[int, ...] = ()
    ambassador_ids: tuple[int, ...] = ()
    platforms: tuple[Platform, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    min_confidence: float = 0.0
    include_uncertain: bool = True
    use_reviews: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")

    def previous_period(self) -> DashboardFilters | None:
        """The same filters over the equally long period just before (None: no range)."""
        if self.date_from is None or self.date_to is None:
            return None
        days = (self.date_to - self.date_from).days + 1
        return replace(self, date_from=self.date_from - timedelta(days=days),
                       date_to=self.date_from - timedelta(days=1))


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
        from analytics.aggregate import positive_share

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


@dataclass(frozen=True)
class DataVersion:
    """Cheap fingerprint that changes whenever a job or a person writes."""

    values: tuple[int, ...]


# ---------------------------------------------------------------------------- building blocks

def _date_bounds(f: DashboardFilters) -> tuple[datetime | None, datetime | None]:
    lo = datetime.combine(f.date_from, time.min, tzinfo=UTC) if f.date_from else None
    hi = (datetime.combine(f.date_to + timedelta(days=1), time.min, tzinfo=UTC)
          if f.date_to else None)
    return lo, hi


def asset_conditions(f: DashboardFilters) -> list:
    """WHERE conditions on ``asset`` for the asset-level filters."""
    cond = []
    if f.brand_id is not None:
        cond.append(Asset.brand_id == f.brand_id)
    if f.campaign_ids:
        cond.append(Asset.campaign_id.in_(f.campaign_ids))
    if f.channel_ids:
        cond.append(Asset.channel_id.in_(f.channel_ids))
    if f.platforms:
        cond.append(Asset.channel_id.in_(
            select(Channel.id).where(Channel.platform.in_(list(f.platforms)))))
    lo, hi = _date_bounds(f)
    if lo is not None:
        cond.append(Asset.posted_at >= lo)
    if hi is not None:
        cond.append(Asset.posted_at < hi)
    return cond


def current_run_of_asset():
    """Scalar subquery correlated to ``asset.id``: its latest successful analysis run."""
    aa = aliased(AssetAnalysis)
    return (select(func.max(aa.run_id))
            .where(aa.asset_id == Asset.id, aa.status == AssetStatus.ANALYZED)
            .correlate(Asset).scalar_subquery())


def latest_reviews():
    """Subquery ``(face_id, label)``: the newest review of each reviewed face."""
    newest = select(func.max(Review.id)).group_by(Review.face_id)
    return (select(Review.face_id.label("face_id"),
                   type_coerce(Review.label, String).label("label"))
            .where(Review.id.in_(newest)).subquery("rv"))


def ambassador_key():
    """A face's ambassador: its identity match unless rejected, else the asset's."""
    matched = and_(Face.ambassador_id.is_not(None),
                   or_(Face.ambassador_confirmed.is_(None), Face.ambassador_confirmed == true()))
    return case((matched, Face.ambassador_id), else_=Asset.ambassador_id)


@dataclass(frozen=True)
class FaceBase:
    """The counted faces of a selection as FROM + WHERE, with the label expression."""

    select_from: object
    where: list
    label: object
    reviewed: object

    def query(self, *cols) -> Select:
        return select(*cols).select_from(self.select_from).where(*self.where)


def face_base(f: DashboardFilters) -> FaceBase:
    """Counted faces joined to their asset (and review) with every filter applied."""
    # Driven from the filtered assets: one run lookup per asset, then its faces by index.
    frm = Asset.__table__.join(Face.__table__, and_(Face.asset_id == Asset.id,
                                                    Face.run_id == current_run_of_asset()))
    dominant = type_coerce(Face.dominant, String)
    model_label = case((Face.uncertain == true(), literal(UNCERTAIN)), else_=dominant)
    where = [*asset_conditions(f), Face.dominant.is_not(None)]
    if f.use_reviews:
        rv = latest_reviews()
        frm = frm.outerjoin(rv, rv.c.face_id == Face.id)
        label = case((rv.c.label.is_not(None), rv.c.label), else_=model_label)
        reviewed = rv.c.label.is_not(None)
    else:
        label, reviewed = model_label, false()
    if f.ambassador_ids:
        where.append(ambassador_key().in_(f.ambassador_ids))
    if f.min_confidence > 0:
        where.append(or_(Face.confidence >= f.min_confidence, reviewed))
    if not f.include_uncertain:
        where.append(label != UNCERTAIN)
    return FaceBase(frm, where, label, reviewed)


# ---------------------------------------------------------------------------- queries

def data_version(*, session: Session) -> DataVersion:
    """Max ids and counts of the tables jobs and reviewers write (a few index lookups)."""
    parts = [func.coalesce(select(func.max(m.id)).scalar_subquery(), 0)
             for m in (Face, Review, Asset, AnalysisRun, AssetAnalysis, IngestRun, IngestItem)]
    done = select(func.count(AnalysisRun.id)).where(AnalysisRun.finished_at.is_not(None))
    row = session.execute(select(*parts, done.scalar_subquery())).one()
    return DataVersion(tuple(int(v or 0) for v in row))


def label_counts(*, session: Session, filters: DashboardFilters) -> dict[str, int]:
    """Faces per label (emotions and ``"uncertain"``) for the selection."""
    from db.queries.dashboard_cube import cube, total_counts

    return total_counts(cube(session=session, filters=filters))


def kpis(*, session: Session, filters: DashboardFilters) -> Kpis:
    """Headline numbers (see :class:`Kpis`), from one scan of assets and faces."""
    from db.queries.dashboard_cube import page_data

    return page_data(session=session, filters=filters).kpis()


def group_key(group: GroupBy):
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


def group_names(*, session: Session, group: GroupBy, brand_id: int | None) -> dict[str, str]:
    """Display name of every group key of a brand (keys as strings; ``"none"`` for NULL)."""
    names: dict[str, str] = {"none": "(none)"}
    if group is GroupBy.PLATFORM:
        names.update({p.value: p.value for p in Platform})
        return names
    model = {GroupBy.CAMPAIGN: Campaign, GroupBy.CHANNEL: Channel,
             GroupBy.AMBASSADOR: Ambassador}[group]
    q = select(model)
    if brand_id is not None:
        q = q.where(model.brand_id == brand_id)
    for obj in session.scalars(q):
        names[str(obj.id)] = obj.label if isinstance(obj, Channel) else obj.name
    return names


def distribution(*, session: Session, filters: DashboardFilters,
                 group: GroupBy) -> list[GroupCount]:
    """Faces per (group, label): the data of a stacked 100 % bar chart."""
    from db.queries.dashboard_cube import cube, distribution_from

    return distribution_from(cube(session=session, filters=filters, group=group))


def day_bucket(dialect: str):
    """SQL expression of a posting's UTC day as ``YYYY-MM-DD`` text (cheap per row)."""
    if dialect == "sqlite":
        return func.substr(Asset.posted_at, 1, 10)  # stored as ISO text
    return func.to_char(func.timezone("UTC", Asset.posted_at), "YYYY-MM-DD")


def period_start(day: str, period: Period) -> str:
    """First day (``YYYY-MM-DD``) of the day's period: itself, its Monday, its month's 1st."""
    d = date.fromisoformat(day[:10])
    if period is Period.WEEK:
        d -= timedelta(days=d.weekday())
    elif period is Period.MONTH:
        d = d.replace(day=1)
    return d.isoformat()


def trend(*, session: Session, filters: DashboardFilters,
          period: Period = Period.WEEK) -> list[GroupCount]:
    """Faces per (period start, label), oldest first; undated assets left out.

    SQL counts per day and label (at most days × 9 rows); days roll up into periods here.
    """
    from db.queries.dashboard_cube import cube, trend_from

    return trend_from(cube(session=session, filters=filters), period)


def engagement(*, session: Session, filters: DashboardFilters) -> list[EngagementRow]:
    """Mean/median engagement per asset-dominant label, with 95 % intervals of the mean.

    Each asset counts under its most frequent label (ties: the fixed label order,
    uncertain last); SQL returns per label and metric value how many assets have it.
    """
    from db.queries.dashboard_cube import cube, engagement_from

    return engagement_from(cube(session=session, filters=filters, engagement=True))


def model_versions(*, session: Session, filters: DashboardFilters) -> list[str]:
    """``name@version`` of the analysis runs behind the selection's numbers."""
    run_ids = (select(current_run_of_asset().label("run_id")).select_from(Asset)
               .where(*asset_conditions(filters)).subquery())
    q = (select(AnalysisRun.model_name, AnalysisRun.model_version).distinct()
         .where(AnalysisRun.id.in_(select(run_ids.c.run_id))))
    return sorted(f"{n}@{v}" for n, v in session.execute(q))


def iter_face_rows(*, session: Session, filters: DashboardFilters,
                   batch: int = 5000) -> Iterator[dict]:
    """Every counted face with its asset's fields, streamed (for exports).

    Yields:
        One mapping per face: ids, asset fields, box, label, confidence, probabilities.
    """
    base = face_base(filters)
    probs = [getattr(Face, f"p_{lbl}") for lbl in LABELS[:-1]]
    q = (base.query(Face.id.label("face_id"), Face.asset_id, Asset.kind, Asset.posted_at,
                    Asset.campaign_id, Asset.channel_id, ambassador_key().label("ambassador_id"),
                    Face.frame_id, Face.x1, Face.y1, Face.x2, Face.y2, Face.det_score,
                    base.label.label("label"), type_coerce(Face.dominant, String).label("model"),
                    Face.confidence, Face.uncertain, Face.track_id, Face.run_id, *probs)
         .order_by(Face.id).execution_options(yield_per=batch))
    for row in session.execute(q):
        yield dict(row._mapping)


def iter_asset_rows(*, session: Session, filters: DashboardFilters,
                    batch: int = 2000) -> Iterator[dict]:
    """Every asset of the selection with its counted faces per label, streamed (exports)."""
    base = face_base(filters)
    per = base.query(Face.asset_id.label("asset_id"), *(
        func.sum(case((base.label == lbl, 1), else_=0)).label(f"faces_{lbl}") for lbl in LABELS)
    ).group_by(Face.asset_id).subquery()
    cols = [per.c[f"faces_{lbl}"] for lbl in LABELS]
    q = (select(Asset.id.label("asset_id"), type_coerce(Asset.kind, String).label("kind"),
                Asset.posted_at, Asset.source_uri, Asset.permalink, Asset.campaign_id,
                Asset.channel_id, Asset.ambassador_id, Asset.likes, Asset.comments,
                Asset.shares, Asset.views, type_coerce(Asset.status, String).label("status"),
                Asset.error, *cols)
         .outerjoin(per, per.c.asset_id == Asset.id).where(*asset_conditions(filters))
         .order_by(Asset.id).execution_options(yield_per=batch))
    for row in session.execute(q):
        d = dict(row._mapping)
        for lbl in LABELS:
            d[f"faces_{lbl}"] = int(d[f"faces_{lbl}"] or 0)
        yield d

def brand_options(*, session: Session, brand_id: int) -> dict[str, dict[int, str]]:
    """Names of a brand's campaigns, channels and ambassadors (for the filter widgets)."""
    out: dict[str, dict[int, str]] = {}
    for name, model in (("campaign", Campaign), ("channel", Channel),
                        ("ambassador", Ambassador)):
        rows = session.scalars(select(model).where(model.brand_id == brand_id)
                               .order_by(model.id)).all()
        out[name] = {r.id: (r.label if isinstance(r, Channel) else r.name) for r in rows}
    return out


def posting_range(*, session: Session, brand_id: int | None) -> tuple[date | None, date | None]:
    """First and last posting dates of a brand's assets."""
    q = select(func.min(Asset.posted_at), func.max(Asset.posted_at))
    if brand_id is not None:
        q = q.where(Asset.brand_id == brand_id)
    lo, hi = session.execute(q).one()
    def as_date(v):
        return (v.date() if isinstance(v, datetime) else
                   (date.fromisoformat(str(v)[:10]) if v else None))
    return as_date(lo), as_date(hi)
