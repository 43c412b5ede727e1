"""One face scan per page: a compact aggregate cube every number of the page derives from.

The default view (model labels, no minimum confidence, no ambassador filter) reads the
per-asset face counts (``asset_face_counts``, kept by the analysis job) instead of the
faces (the ambassador grouping then reads the faces of the few assets with a face matched
to another ambassador); any other view scans the faces. Both give the same cube (a test checks).
The scan groups the counted faces per asset (nine label counts) in a CTE that the
database materializes once; ``UNION ALL`` parts then roll it up per day (trend, KPIs),
per group (distribution) and per asset-dominant label and metric value (engagement
histograms, from which means, medians and intervals follow exactly). The result is at
most ``days + groups + 4 × labels × distinct metric values`` rows. Which faces count is
:func:`db.queries.selection.counted_faces`; the page's numbers are derived from the cube
in :mod:`brandmood.services.dashboard`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Float,
    FromClause,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from brandmood.core.types import LABELS, UNCERTAIN, add_counts
from db.models import Asset, AssetFaceCounts, AssetStatus, Face
from db.queries.dashboard import ENGAGEMENT_METRICS, GroupBy, day_bucket, group_key
from db.queries.selection import (
    DashboardFilters,
    ambassador_matched,
    asset_conditions,
    counted_faces,
)

Counts = dict[str, int]


@dataclass(frozen=True)
class Cube:
    """The aggregates of one selection (one scan of its assets and counted faces).

    Attributes:
        days: posting day ``YYYY-MM-DD`` (None: undated) → label → faces.
        day_assets: posting day → ``(assets, analyzed assets, assets with a counted face)``.
        groups: group key (``"none"`` for NULL) → label → faces; empty without a group.
        histograms: metric → asset-dominant label → ``[(metric value or None, assets)]``.
    """

    days: dict[str | None, Counts] = field(default_factory=dict)
    day_assets: dict[str | None, tuple[int, int, int]] = field(default_factory=dict)
    groups: dict[str, Counts] = field(default_factory=dict)
    histograms: dict[str, dict[str, list[tuple[float | None, int]]]] = field(
        default_factory=dict)


def _scan(filters: DashboardFilters) -> tuple[FromClause, list[ColumnElement[bool]],
                                             list[ColumnElement[int]]]:
    """``asset LEFT JOIN`` its counted faces: FROM, WHERE and the nine label columns.

    Face conditions sit in the join (an asset whose faces are all filtered out still
    counts as an asset); those that need the review sit in each column's ``FILTER``.
    Columns are ``count(*) FILTER (WHERE …)``: one aggregate steps per face (cheaper than
    nine ``count(CASE …)``); SQLite ≥ 3.30 and PostgreSQL both have ``FILTER``.
    """
    faces = counted_faces(filters)
    cols = [(func.count().filter(faces.has_label(lbl)) if lbl in faces.labels
             else literal(0)).label(f"n{i}") for i, lbl in enumerate(LABELS)]
    return faces.from_assets(outer=True), asset_conditions(filters), cols


SUMMARY_GROUPS = (None, GroupBy.CAMPAIGN, GroupBy.CHANNEL, GroupBy.PLATFORM,
                  GroupBy.AMBASSADOR)
"""Groups the per-asset summary can serve: keys that are the asset's own, and the
ambassador, whose per-face refinement reads only the few assets with a face matched to
another ambassador (:func:`_mixed_assets`)."""


def summary_serves(filters: DashboardFilters, group: GroupBy | None) -> bool:
    """Whether ``asset_face_counts`` gives the same numbers as the face scan.

    It does for the default view: no minimum confidence, model labels (no review
    override), no ambassador filter (the summary knows no identities); any asset-level
    filter, either ``include_uncertain`` and any group (the ambassador one moves the
    matched faces of the few mixed assets afterwards) are fine.
    """
    return (filters.min_confidence == 0 and not filters.use_reviews
            and not filters.ambassador_ids and group in SUMMARY_GROUPS)


def _summary_scan(filters: DashboardFilters) -> tuple[
        FromClause, list[ColumnElement[bool]], list[ColumnElement[int]],
        ColumnElement[str | None] | None]:
    """``asset LEFT JOIN asset_face_counts``: FROM, WHERE, label columns, stored dominant.

    The stored dominant label counts uncertain faces; without them it is None here and
    recomputed from the columns like the scan does.
    """
    frm = Asset.__table__.outerjoin(AssetFaceCounts.__table__,
                                    AssetFaceCounts.asset_id == Asset.id)
    cols = [(getattr(AssetFaceCounts, f"n_{lbl}")
             if filters.include_uncertain or lbl != UNCERTAIN else literal(0)).label(f"n{i}")
            for i, lbl in enumerate(LABELS)]
    dominant = AssetFaceCounts.dominant if filters.include_uncertain else None
    return frm, asset_conditions(filters), cols, dominant


def _inner_key(group: GroupBy | None) -> ColumnElement | None:
    """The per-asset group key (an ambassador is refined per face afterwards)."""
    if group is None:
        return None
    if group is GroupBy.AMBASSADOR:
        return Asset.ambassador_id
    return group_key(group)


def _per_asset(filters: DashboardFilters, group: GroupBy | None, *, engagement: bool,
               dialect: str, summary: bool) -> CTE:
    """The per-asset CTE ``per``: id, day, analyzed, metrics, group key, ``n0…n8``.

    From the summary table (plus ``dl``, the stored dominant label, where it applies)
    or from the faces (plus ``nm``, matched faces, for the ambassador grouping).
    """
    key = _inner_key(group)
    metrics = [getattr(Asset, m).label(m) for m in (ENGAGEMENT_METRICS if engagement else ())]
    cols = [Asset.id.label("aid"), day_bucket(dialect).label("day"),
            case((Asset.status == AssetStatus.ANALYZED, 1), else_=0).label("analyzed"),
            *metrics, *([key.label("g")] if key is not None else [])]
    if summary:
        frm, where, label_cols, stored = _summary_scan(filters)
        cols += [*label_cols, *([stored.label("dl")] if stored is not None else [])]
        return select(*cols).select_from(frm).where(*where).cte("per")
    frm, where, label_cols = _scan(filters)
    cols += [*label_cols, *([func.count(Face.id).filter(_moved()).label("nm")]
                            if group is GroupBy.AMBASSADOR else [])]
    return select(*cols).select_from(frm).where(*where).group_by(Asset.id).cte("per")


def _moved() -> ColumnElement[bool]:
    """A face matched to an ambassador (not rejected) other than its asset's own."""
    return and_(ambassador_matched(),
                or_(Asset.ambassador_id.is_(None), Face.ambassador_id != Asset.ambassador_id))


def _ambassador_part(per: CTE, ns: list[ColumnElement[int]],
                     nulls: list[ColumnElement[int]]) -> Select:
    """Label sums per tagged ambassador of the ``per`` assets (part ``g``).

    The ambassador ids come from the small index on ``asset.ambassador_id`` (SQLite
    looks ``per`` up by an automatic index) instead of every asset's table row.
    """
    a2 = Asset.__table__.alias("a2")
    return (select(literal("g"), cast(null(), String), cast(a2.c.ambassador_id, String),
                   cast(null(), Float), *(func.sum(n) for n in ns), *nulls)
            .select_from(per.join(a2, a2.c.id == per.c.aid))
            .where(a2.c.ambassador_id.is_not(None))
            .group_by(a2.c.ambassador_id))


def _add_none_group(out: Cube) -> None:
    """The group ``"none"`` (assets without an ambassador): the total less the others."""
    rest = total_counts(out)
    for counts in out.groups.values():
        add_counts(rest, counts, sign=-1)
    if rest:
        out.groups["none"] = rest


def _mixed_assets(session: Session) -> list[int]:
    """Ids of the assets (of any selection) with a face that moves to another ambassador.

    Driven from the index on ``face.ambassador_id`` (most faces have none; SQLite's
    statistics cannot tell that for ``IS NOT NULL``, hence a range), each match looks
    its asset up by key; the selection, run and label conditions are left to
    :func:`_move_matches`, which reads these assets' faces.
    """
    own = select(Asset.ambassador_id).where(Asset.id == Face.asset_id).scalar_subquery()
    q = select(Face.asset_id).where(  # no DISTINCT: SQLite would then scan ix_face_asset_run
        Face.ambassador_id > 0,  # ids are positive; a range SQLite serves from the index
        or_(Face.ambassador_confirmed.is_(None), Face.ambassador_confirmed == true()),
        Face.ambassador_id.is_distinct_from(own))
    return sorted({int(a) for a in session.scalars(q)})


def cube(*, session: Session, filters: DashboardFilters, group: GroupBy | None = None,
         engagement: bool = False, use_summary: bool | None = None) -> Cube:
    """Scan the selection once and return its :class:`Cube`.

    Args:
        group: also count faces per group (a distribution), or None.
        engagement: also build the engagement histograms (asset-dominant label × value).
        use_summary: read ``asset_face_counts`` instead of the faces (None: wherever
            :func:`summary_serves`; True where it does not raises ValueError).
    """
    serves = summary_serves(filters, group)
    if use_summary and not serves:
        raise ValueError("the face-count summary cannot serve these filters or this group")
    dialect = session.get_bind().dialect.name
    summary = serves if use_summary is None else use_summary
    # from the summary, the ambassador totals come from a separate part (_ambassador_part)
    # so that ``per`` reads only the dashboard index's columns of ``asset``
    by_part = summary and group is GroupBy.AMBASSADOR
    key = None if by_part else _inner_key(group)
    per = _per_asset(filters, None if by_part else group, engagement=engagement,
                     dialect=dialect, summary=summary)
    ns = [per.c[f"n{i}"] for i in range(len(LABELS))]
    nf = sum(ns[1:], ns[0])
    nulls = [cast(null(), BigInteger) for _ in range(len(ns) + 3)]
    gcol = cast(per.c.g, String) if key is not None else cast(null(), String)
    parts = [select(literal("d"), cast(per.c.day, String), gcol, cast(null(), Float),
                    *(func.sum(n) for n in ns), func.count(), func.sum(per.c.analyzed),
                    func.count().filter(nf > 0)).group_by(per.c.day, gcol)]
    if engagement:
        if "dl" in per.c:  # the stored dominant label of the asset
            dl = per.c.dl
        else:
            top = func.max(*ns) if dialect == "sqlite" else func.greatest(*ns)
            # simple CASE: the maximum is computed once per asset; first label at it wins
            dl = case({n: literal(lbl) for n, lbl in zip(ns, LABELS, strict=True)}, value=top)
        dom = select(dl.label("dl"), *(per.c[m] for m in ENGAGEMENT_METRICS)).where(
            nf > 0).cte("dom")
        for m in ENGAGEMENT_METRICS:
            parts.append(select(literal(m), cast(dom.c.dl, String), cast(null(), String),
                                cast(dom.c[m], Float),
                                func.count(), *nulls[1:]).group_by(dom.c.dl, dom.c[m]))
    if by_part:
        parts.append(_ambassador_part(per, ns, nulls[:3]))
    if group is GroupBy.AMBASSADOR and not summary:
        parts.append(select(literal("m"), cast(per.c.aid, String), cast(null(), String),
                            cast(null(), Float), *nulls).where(per.c.nm > 0))
    out = Cube()
    with_matches = []
    for part, k, g, val, *rest in session.execute(union_all(*parts)):
        if part == "d":
            counts = {lbl: int(c) for lbl, c in zip(LABELS, rest, strict=False) if c}
            add_counts(out.days.setdefault(k, {}), counts)
            prev = out.day_assets.get(k, (0, 0, 0))
            out.day_assets[k] = tuple(a + int(b or 0) for a, b in zip(prev, rest[-3:],
                                                                        strict=True))
            if key is not None and counts:
                add_counts(out.groups.setdefault("none" if g is None else g, {}), counts)
        elif part == "m":
            with_matches.append(int(k))
        elif part == "g":
            counts = {lbl: int(c) for lbl, c in zip(LABELS, rest, strict=False) if c}
            if counts:
                add_counts(out.groups.setdefault(g, {}), counts)
        else:
            out.histograms.setdefault(part, {}).setdefault(k, []).append(
                (val, int(rest[0])))
    if by_part:
        _add_none_group(out)
        with_matches = _mixed_assets(session)
    if with_matches:
        _ambassador_matches(session, filters, out.groups, with_matches)
    return out


def _ambassador_matches(session: Session, filters: DashboardFilters,
                        groups: dict[str, Counts], asset_ids: list[int],
                        chunk: int = 500) -> None:
    """Move faces matched to an ambassador (not rejected) from the asset's ambassador.

    Only the assets the scan saw with such a face are read again, by id.
    """
    for i in range(0, len(asset_ids), chunk):
        _move_matches(session, filters, groups, asset_ids[i:i + chunk])


def _move_matches(session: Session, filters: DashboardFilters, groups: dict[str, Counts],
                  asset_ids: list[int]) -> None:
    faces = counted_faces(filters)
    q = (faces.query(Asset.ambassador_id, Face.ambassador_id, faces.label, func.count())
         .where(_moved(), Asset.id.in_(asset_ids))
         .group_by(Asset.ambassador_id, Face.ambassador_id, faces.label))
    for asset_amb, face_amb, lbl, n in session.execute(q):
        if lbl not in LABELS:
            continue
        src = "none" if asset_amb is None else str(asset_amb)
        add_counts(groups.setdefault(src, {}), {str(lbl): int(n)}, sign=-1)
        add_counts(groups.setdefault(str(face_amb), {}), {str(lbl): int(n)})
        if not groups[src]:
            del groups[src]


def total_counts(c: Cube) -> Counts:
    """Faces per label over the whole selection."""
    out: Counts = {}
    for counts in c.days.values():
        add_counts(out, counts)
    return out
