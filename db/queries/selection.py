"""What a dashboard selection is (:class:`DashboardFilters`), and the one rule for which of
its faces count and under which label (:func:`counted_faces`).

Every count of the app uses this rule: the dashboard's one-scan cube, the gallery, the
review queue, the exports and the per-asset summary table the analysis job keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    ColumnElement,
    FromClause,
    ScalarSelect,
    Select,
    String,
    Subquery,
    Table,
    and_,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import aliased

from brandmood.core.access import BrandScope
from brandmood.core.types import LABELS, UNCERTAIN, Emotion
from db.models import (
    NO_DAY,
    Asset,
    AssetAnalysis,
    AssetStatus,
    Channel,
    Face,
    Platform,
)
from db.queries.consensus import consensus_reviews


@dataclass(frozen=True)
class DashboardFilters:
    """What the sidebar selects; hashable so it can key a cache.

    Attributes:
        scope: the brands the caller may read (required, keyword-only): every query of
            the selection stays inside it, and a ``brand_id`` outside it is refused when
            the filters are made (:class:`~brandmood.core.access.AccessDenied`).
        brand_id: the brand (None: every brand of the scope).
        campaign_ids, channel_ids, ambassador_ids: empty means all.
        platforms: channel platforms, empty means all.
        date_from, date_to: inclusive posting-date range (None: open).
        min_confidence: faces below this top probability are left out.
        include_uncertain: count faces flagged uncertain (as ``"uncertain"``).
        use_reviews: a face with a consensus of its reviews counts with that label.
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
    scope: BrandScope = field(kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.scope, BrandScope):
            raise TypeError(f"scope must be a BrandScope, got {type(self.scope).__name__}")
        if self.brand_id is not None:
            self.scope.check(self.brand_id, f"brand #{self.brand_id}")
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


def _date_bounds(f: DashboardFilters) -> tuple[datetime | None, datetime | None]:
    lo = datetime.combine(f.date_from, time.min, tzinfo=UTC) if f.date_from else None
    hi = (datetime.combine(f.date_to + timedelta(days=1), time.min, tzinfo=UTC)
          if f.date_to else None)
    return lo, hi


def in_scope(column: ColumnElement[int], scope: BrandScope) -> ColumnElement[bool]:
    """``column`` (a brand id) lies in ``scope``: the brand condition of every read."""
    if scope.ids is None:
        return true()
    return column.in_(sorted(scope.ids)) if scope.ids else false()


def asset_conditions(f: DashboardFilters) -> list[ColumnElement[bool]]:
    """WHERE conditions on ``asset`` for the asset-level filters, the brand scope first
    (one brand: already checked against the scope when the filters were made)."""
    cond: list[ColumnElement[bool]] = []
    if f.brand_id is not None:
        cond.append(Asset.brand_id == f.brand_id)
    elif not f.scope.is_all:
        cond.append(in_scope(Asset.brand_id, f.scope))
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


def rollup_conditions(t: Table, f: DashboardFilters, *, dated: bool = True
                      ) -> list[ColumnElement[bool]]:
    """The selection's asset filters on a rollup table (:mod:`db.queries.rollups`: keys
    ``brand_id``, ``campaign_id``, ``channel_id`` and, with ``dated``, ``day``), the brand
    scope first: the same assets as :func:`asset_conditions`."""
    cond: list[ColumnElement[bool]] = []
    if f.brand_id is not None:
        cond.append(t.c.brand_id == f.brand_id)
    elif not f.scope.is_all:
        cond.append(in_scope(t.c.brand_id, f.scope))
    if f.campaign_ids:
        cond.append(t.c.campaign_id.in_(f.campaign_ids))
    if f.channel_ids:
        cond.append(t.c.channel_id.in_(f.channel_ids))
    if f.platforms:
        cond.append(t.c.channel_id.in_(
            select(Channel.id).where(Channel.platform.in_(list(f.platforms)))))
    if dated and f.date_from is not None:
        cond.append(t.c.day >= f.date_from.isoformat())
    if dated and f.date_to is not None:
        cond += [t.c.day <= f.date_to.isoformat(), t.c.day != NO_DAY]
    return cond


def current_run_of_asset() -> ScalarSelect[int]:
    """Scalar subquery correlated to ``asset.id``: its latest successful analysis run."""
    aa = aliased(AssetAnalysis)
    return (select(func.max(aa.run_id))
            .where(aa.asset_id == Asset.id, aa.status == AssetStatus.ANALYZED)
            .correlate(Asset).scalar_subquery())


def current_runs(asset_ids: list[int] | None = None) -> Subquery:
    """Subquery ``(asset_id, run_id)``: each analyzed asset's latest successful run
    (the same runs as :func:`current_run_of_asset`, for a ``GROUP BY`` join)."""
    q = (select(AssetAnalysis.asset_id.label("asset_id"),
                func.max(AssetAnalysis.run_id).label("run_id"))
         .where(AssetAnalysis.status == AssetStatus.ANALYZED))
    if asset_ids is not None:
        q = q.where(AssetAnalysis.asset_id.in_(asset_ids))
    return q.group_by(AssetAnalysis.asset_id).subquery("cur")


def ambassador_matched() -> ColumnElement[bool]:
    """The face is matched to an ambassador and no reviewer rejected the match."""
    return and_(Face.ambassador_id.is_not(None),
                or_(Face.ambassador_confirmed.is_(None), Face.ambassador_confirmed == true()))


def ambassador_key() -> ColumnElement[int]:
    """A face's ambassador: its identity match unless rejected, else the asset's."""
    return case((ambassador_matched(), Face.ambassador_id), else_=Asset.ambassador_id)


def model_label() -> ColumnElement[str]:
    """A face's model label: ``"uncertain"`` where flagged, else its top emotion."""
    return case((Face.uncertain == true(), literal(UNCERTAIN)),
                else_=type_coerce(Face.dominant, String))


@dataclass(frozen=True)
class CountedFaces:
    """Which faces of a selection count, and the label each counts under.

    The rule, written here only: a face counts when it belongs to its asset's current
    run (the latest analyzed one), has a model label, belongs to a chosen ambassador
    (:func:`ambassador_key`; where some are chosen) and has at least the minimum
    confidence (with reviews, a face with a consensus label needs no minimum). Its label is
    its reviews' consensus (with reviews; :mod:`db.queries.consensus`), else
    ``"uncertain"`` where flagged, else its top emotion; faces whose label is
    ``"uncertain"`` count only with ``include_uncertain``.

    Attributes:
        filters: the selection (its asset conditions: :func:`asset_conditions`).
        on: the conditions on ``face`` that need no review: a join condition (an asset
            whose faces all fail them still is an asset of the selection).
        review: the consensus subquery to ``LEFT JOIN`` on the face id (None: model
            labels only).
        keep: what else a face needs that depends on its review (``true()``: nothing).
        label: the label expression.
        labels: the labels that count, in :data:`LABELS` order.
    """

    filters: DashboardFilters
    on: tuple[ColumnElement[bool], ...]
    review: Subquery | None
    keep: ColumnElement[bool]
    label: ColumnElement[str]
    labels: tuple[str, ...]

    def join_review(self, frm: FromClause) -> FromClause:
        """``frm LEFT JOIN`` the consensus labels, where labels come from them."""
        if self.review is None:
            return frm
        return frm.outerjoin(self.review, self.review.c.face_id == Face.id)

    def from_assets(self, *, outer: bool = False) -> FromClause:
        """``asset JOIN face`` on :attr:`on` (``LEFT JOIN`` with ``outer``), plus reviews."""
        on = and_(*self.on)
        frm = (Asset.__table__.outerjoin(Face.__table__, on) if outer
               else Asset.__table__.join(Face.__table__, on))
        return self.join_review(frm)

    def where(self) -> list[ColumnElement[bool]]:
        """Conditions (beyond :attr:`on`) a counted face meets: review-dependent ones and
        the label; on model labels, on the covering index's columns only."""
        out = [] if self.review is None or self.filters.min_confidence <= 0 else [self.keep]
        if UNCERTAIN not in self.labels:
            out.append(not_(Face.uncertain) if self.review is None
                       else self.label != UNCERTAIN)
        return out

    def label_is(self, label: str) -> ColumnElement[bool]:
        """The face's label is ``label`` (on model labels: no ``CASE``, index columns only).

        Raises:
            ValueError: for a label outside :data:`LABELS`.
        """
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
        if self.review is not None:
            return self.label == label
        if label == UNCERTAIN:
            return Face.uncertain == true()
        return and_(not_(Face.uncertain), Face.dominant == Emotion(label))

    def has_label(self, label: str) -> ColumnElement[bool]:
        """A face that meets :attr:`on` counts, under ``label`` (:attr:`keep` included)."""
        if self.review is None:
            return self.label_is(label)
        return and_(self.keep, self.label_is(label))

    def query(self, *cols) -> Select:
        """``SELECT cols`` over the counted faces of the selection, joined to their asset."""
        return (select(*cols).select_from(self.from_assets())
                .where(*asset_conditions(self.filters), *self.where()))


def counted_faces(filters: DashboardFilters, *,
                  asset_id: ColumnElement[int] | None = None,
                  run_id: ColumnElement[int] | None = None) -> CountedFaces:
    """The counted-face rule of a selection (see :class:`CountedFaces`).

    Args:
        asset_id: what a face's ``asset_id`` must equal (None: ``asset.id``).
        run_id: the current run of that asset (None: :func:`current_run_of_asset`).
    """
    on: list[ColumnElement[bool]] = [
        Face.asset_id == (Asset.id if asset_id is None else asset_id),
        Face.run_id == (current_run_of_asset() if run_id is None else run_id),
        Face.dominant.is_not(None)]
    if filters.ambassador_ids:
        on.append(ambassador_key().in_(filters.ambassador_ids))
    review = None
    label, keep = model_label(), true()
    if filters.use_reviews:
        review = consensus_reviews()
        label = case((review.c.label.is_not(None), review.c.label), else_=label)
        if filters.min_confidence > 0:
            keep = or_(Face.confidence >= filters.min_confidence, review.c.label.is_not(None))
    elif filters.min_confidence > 0:
        on.append(Face.confidence >= filters.min_confidence)
    labels = tuple(lbl for lbl in LABELS if filters.include_uncertain or lbl != UNCERTAIN)
    return CountedFaces(filters, tuple(on), review, keep, label, labels)
