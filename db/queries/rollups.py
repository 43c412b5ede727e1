"""Rollups: pre-aggregated counts the dashboard pages read instead of scanning faces.

Three tables (:mod:`db.models`) hold the default view's numbers (model labels, each
asset's current run, the one counted-face rule of :func:`db.queries.selection.counted_faces`):

- ``rollup_faces``: counted faces per brand, posting day, campaign, channel and face
  ambassador, one column per label (``uncertain`` is a label);
- ``rollup_assets``: assets per brand, day, campaign, channel, analyzed or not, current
  run, and the dominant label of their counted faces with and without the uncertain ones;
- ``rollup_engagement``: the assets with a counted face per brand, campaign, channel,
  dominant labels, metric and metric value (the engagement histograms, all time).

A *cell* is ``(brand, day, campaign, channel)``: an asset's coordinates. The ledger
``rollup_asset_state`` records what each asset last contributed (its cell, dominant labels
and metric values), so a refresh knows the old cell even after the asset moved or was
deleted.

Maintenance API (all keyword-only, in the caller's transaction):

- :func:`refresh_rollups` ``(session=, asset_ids=)``: after assets were inserted, updated,
  re-analyzed or deleted (or their faces were), recompute exactly the rollup rows those
  assets touch: their old and new cells are recounted from the face rows, their
  engagement rows move by the difference between their old and new ledger entries.
- :func:`rollups_maintained` ``(session=, asset_ids=)``: a context manager around a
  change (e.g. erasure or retention deleting assets or faces): it brings the assets'
  ledger up to date before the change and refreshes their rollups after it::

      with rollups_maintained(session=s, asset_ids=ids):
          s.execute(delete(Asset).where(Asset.id.in_(ids)))

- :func:`rebuild_rollups` ``(session=, brand_ids=None)``: recompute everything (or some
  brands) from the face rows; run by migration ``0010_rollups`` and by
  ``brandmood rollups rebuild``. Use it after changes that bypass the asset-level API
  (deleting a brand, campaign or channel, whose foreign keys null or drop asset rows).

Who calls it: :func:`db.queries.analysis.refresh_face_counts` (hence every analysis
result, failure and re-analysis, in the same transaction as the faces), ingest
(:func:`db.queries.ingest.add_asset`), asset deletion, failed-asset resets and the
ambassador match reviews (:mod:`db.queries.identity`). An emotion review changes no
rollup: rollups count model labels; views on reviewed labels scan the faces.

Concurrency: on PostgreSQL a refresh locks the assets' ledger rows and takes a
transaction-scoped advisory lock per ``(brand, day)`` before recounting a cell, so two
writers of one cell recount one after the other (each statement then sees the other's
committed faces); engagement rows move by atomic upserts. On SQLite writers are serial.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope
from brandmood.core.types import EMOTIONS, LABELS
from db.models import (
    NO_DAY,
    NO_ID,
    NO_VALUE,
    Asset,
    AssetStatus,
    Face,
    RollupAssets,
    RollupAssetState,
    RollupEngagement,
    RollupFaces,
)
from db.queries.dashboard import ENGAGEMENT_METRICS, day_bucket
from db.queries.selection import (
    DashboardFilters,
    ambassador_key,
    counted_faces,
    current_run_of_asset,
)

Cell = tuple[int, str, int, int]
CHUNK = 400
"""Assets per refresh statement."""
CELLS = 100
"""Keys per ``OR`` of key lookups."""
STATE_COLUMNS = ("asset_id", "brand_id", "day", "campaign_id", "channel_id", "analyzed",
                 "run_id", "dominant", "dominant_certain", *ENGAGEMENT_METRICS)


def _rule():
    """The default view's counted faces (every brand: maintenance is not a read)."""
    return counted_faces(DashboardFilters(scope=BrandScope.ALL))


def _top(dialect: str, cols: Sequence[ColumnElement[int]]) -> ColumnElement[int]:
    return func.max(*cols) if dialect == "sqlite" else func.greatest(*cols)


def facts_select(*, dialect: str, where: Sequence[ColumnElement[bool]]) -> Select:
    """``SELECT`` of ledger rows (:data:`STATE_COLUMNS`) of the assets meeting ``where``,
    from their rows and the counted faces of their current run.

    ``dominant``: the label with most faces, uncertain included (first in label order on
    a tie; ``""`` without faces); ``dominant_certain``: the same among the eight emotions.
    """
    faces = _rule()
    ns = [func.count(Face.id).filter(faces.has_label(lbl)).label(f"n{i}")
          for i, lbl in enumerate(LABELS)]
    metrics = [func.coalesce(cast(getattr(Asset, m), Float), NO_VALUE).label(m)
               for m in ENGAGEMENT_METRICS]
    per = (select(Asset.id.label("asset_id"), Asset.brand_id.label("brand_id"),
                  func.coalesce(day_bucket(dialect), NO_DAY).label("day"),
                  func.coalesce(Asset.campaign_id, NO_ID).label("campaign_id"),
                  func.coalesce(Asset.channel_id, NO_ID).label("channel_id"),
                  (Asset.status == AssetStatus.ANALYZED).label("analyzed"),
                  func.coalesce(current_run_of_asset(), NO_ID).label("run_id"), *metrics, *ns)
           .select_from(faces.from_assets(outer=True)).where(*where)
           .group_by(Asset.id).subquery("per"))
    n = [per.c[f"n{i}"] for i in range(len(LABELS))]
    top, top8 = _top(dialect, n), _top(dialect, n[:len(EMOTIONS)])
    dominant = case((top == 0, literal(NO_DAY)),
                    *((c == top, literal(lbl)) for c, lbl in zip(n, LABELS, strict=True)))
    certain = case((top8 == 0, literal(NO_DAY)),
                   *((c == top8, literal(lbl))
                     for c, lbl in zip(n[:len(EMOTIONS)], LABELS, strict=False)))
    return select(per.c.asset_id, per.c.brand_id, per.c.day, per.c.campaign_id,
                  per.c.channel_id, per.c.analyzed, per.c.run_id, dominant.label("dominant"),
                  certain.label("dominant_certain"), *(per.c[m] for m in ENGAGEMENT_METRICS))


def _cell_of(row) -> Cell:
    return (int(row.brand_id), str(row.day), int(row.campaign_id), int(row.channel_id))


def _cell_cols(t) -> tuple:
    return (t.c.brand_id, t.c.day, t.c.campaign_id, t.c.channel_id)


def _any_of(cols: Sequence[ColumnElement], keys: Sequence[tuple]) -> ColumnElement[bool]:
    """``cols`` equal one of ``keys``: an ``OR`` of ``AND`` terms, each a key lookup on
    both backends (SQLite scans the table for a row-value ``IN (VALUES …)``)."""
    return or_(*(and_(*(c == v for c, v in zip(cols, k, strict=True))) for k in keys))


def _lock_cells(session: Session, cells: Iterable[Cell]) -> None:
    """PostgreSQL: a transaction-scoped advisory lock per ``(brand, day)``, in order."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for brand_id, day in sorted({(c[0], c[1]) for c in cells}):
        session.execute(select(func.pg_advisory_xact_lock(brand_id, func.hashtext(day))))


CELL_KEYS = ("brand_id", "day", "campaign_id", "channel_id")


@cache
def _cell_statements() -> tuple:
    """The four statements that recount one cell, built once (building the expression of
    the counted-face rule costs more than running it on one cell), with the cell's key as
    bound parameters."""
    st = RollupAssetState.__table__
    params = [bindparam(f"k_{k}") for k in CELL_KEYS]

    def at(table) -> ColumnElement[bool]:
        return and_(*(c == p for c, p in zip(_cell_cols(table), params, strict=True)))

    ta, tf = RollupAssets.__table__, RollupFaces.__table__
    return (delete(ta).where(at(ta)), delete(tf).where(at(tf)),
            _assets_insert(at(st)), _faces_insert(at(st)))


def _recount_cells(session: Session, cells: Sequence[Cell]) -> None:
    """Rewrite the ``rollup_assets`` and ``rollup_faces`` rows of these cells: assets from
    the ledger, faces from the face rows of the ledger's assets of each cell."""
    conn = session.connection()
    for cell in cells:
        params = {f"k_{k}": v for k, v in zip(CELL_KEYS, cell, strict=True)}
        for stmt in _cell_statements():
            conn.execute(stmt, params)


def _assets_insert(where: ColumnElement[bool]):
    st = RollupAssetState.__table__
    keys = (*_cell_cols(st), st.c.analyzed, st.c.run_id, st.c.dominant,
            st.c.dominant_certain)
    return insert(RollupAssets.__table__).from_select(
        [k.name for k in keys] + ["n_assets"],
        select(*keys, func.count()).where(where).group_by(*keys))


def _faces_insert(where: ColumnElement[bool]):
    st = RollupAssetState.__table__
    faces = _rule()
    amb = func.coalesce(ambassador_key(), NO_ID)
    keys = (*_cell_cols(st), amb)
    counts = [func.count().filter(faces.has_label(lbl)) for lbl in LABELS]
    q = (select(*keys, *counts).select_from(
        st.join(Asset, Asset.id == st.c.asset_id).join(Face, and_(*faces.on)))
        .where(where, *faces.where()).group_by(*keys))
    return insert(RollupFaces.__table__).from_select(
        ["brand_id", "day", "campaign_id", "channel_id", "ambassador_id",
         *(f"n_{lbl}" for lbl in LABELS)], q)


@cache
def _facts_of_ids(dialect: str) -> Select:
    """:func:`facts_select` of the assets ``ids`` (an expanding parameter), built once."""
    return facts_select(dialect=dialect, where=[Asset.id.in_(bindparam("ids",
                                                                      expanding=True))])


def _engagement_keys(row) -> Iterator[tuple]:
    """The engagement rows one ledger entry counts in (none without a counted face)."""
    if row.dominant == NO_DAY:
        return
    for m in ENGAGEMENT_METRICS:
        yield (int(row.brand_id), int(row.campaign_id), int(row.channel_id), row.dominant,
               row.dominant_certain, m, float(getattr(row, m)))


ENGAGEMENT_KEYS = ("brand_id", "campaign_id", "channel_id", "dominant", "dominant_certain",
                   "metric", "value")


def _move_engagement(session: Session, delta: Counter) -> None:
    """Add ``delta`` (key → assets, ±) to ``rollup_engagement``; drop rows that reach 0."""
    changes = [dict(zip(ENGAGEMENT_KEYS, k, strict=True), n_assets=n)
               for k, n in sorted(delta.items()) if n]
    if not changes:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    stmt = upsert(RollupEngagement)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(ENGAGEMENT_KEYS),
        set_={"n_assets": RollupEngagement.n_assets + stmt.excluded.n_assets})
    session.execute(stmt, changes)
    t = RollupEngagement.__table__
    keys = [tuple(c[k] for k in ENGAGEMENT_KEYS) for c in changes]
    for i in range(0, len(keys), CELLS):
        session.execute(delete(t).where(_any_of([t.c[k] for k in ENGAGEMENT_KEYS],
                                                keys[i:i + CELLS]), t.c.n_assets <= 0))


def refresh_rollups(*, session: Session, asset_ids: Iterable[int]) -> None:
    """Recompute the rollup rows these assets touch, in the caller's transaction.

    Works after inserts, updates, re-analyses and deletions of the assets or their faces:
    the old cells come from the ledger, the new ones from the assets' rows.
    """
    ids = sorted({int(i) for i in asset_ids})
    for i in range(0, len(ids), CHUNK):
        _refresh_chunk(session, ids[i:i + CHUNK])


def _refresh_chunk(session: Session, ids: list[int]) -> None:
    st = RollupAssetState.__table__
    dialect = session.get_bind().dialect.name
    q = select(st).where(st.c.asset_id.in_(ids)).order_by(st.c.asset_id)
    old = session.execute(q.with_for_update() if dialect == "postgresql" else q).all()
    new = session.execute(_facts_of_ids(dialect), {"ids": ids}).all()
    cells = sorted({_cell_of(r) for r in (*old, *new)})
    _lock_cells(session, cells)
    session.execute(delete(st).where(st.c.asset_id.in_(ids)))
    if new:
        session.execute(insert(st), [dict(zip(STATE_COLUMNS, r, strict=True)) for r in new])
    delta: Counter = Counter()
    for row in old:
        delta.subtract(_engagement_keys(row))
    for row in new:
        delta.update(_engagement_keys(row))
    _move_engagement(session, delta)
    _recount_cells(session, cells)


@contextmanager
def rollups_maintained(*, session: Session, asset_ids: Iterable[int]) -> Iterator[None]:
    """Keep the rollups exact across a change of these assets (or of their faces).

    Before the block: the assets' ledger entries are brought up to date (their current
    cells recorded); after it: :func:`refresh_rollups`. Nothing is refreshed if the block
    raises (the caller's transaction is expected to roll back).
    """
    ids = sorted({int(i) for i in asset_ids})
    refresh_rollups(session=session, asset_ids=ids)
    yield
    session.flush()
    refresh_rollups(session=session, asset_ids=ids)


def rebuild_rollups(*, session: Session, brand_ids: Iterable[int] | None = None) -> None:
    """Recompute the rollups of these brands (None: all) from the face rows.

    Bulk ``INSERT … SELECT`` statements; rows of brands that no longer exist go too.
    """
    brands = None if brand_ids is None else sorted({int(b) for b in brand_ids})
    tables = (RollupAssetState, RollupAssets, RollupEngagement, RollupFaces)
    for model in tables:
        stmt = delete(model)
        if brands is not None:
            stmt = stmt.where(model.brand_id.in_(brands))
        session.execute(stmt)
    where = [] if brands is None else [Asset.brand_id.in_(brands)]
    st = RollupAssetState.__table__
    session.execute(insert(st).from_select(
        list(STATE_COLUMNS), facts_select(dialect=session.get_bind().dialect.name,
                                          where=where)))
    in_brands = st.c.brand_id.in_(brands) if brands is not None else true()
    session.execute(_assets_insert(in_brands))
    session.execute(_faces_insert(in_brands))
    for m in ENGAGEMENT_METRICS:
        keys = (st.c.brand_id, st.c.campaign_id, st.c.channel_id, st.c.dominant,
                st.c.dominant_certain)
        session.execute(insert(RollupEngagement).from_select(
            [*ENGAGEMENT_KEYS, "n_assets"],
            select(*keys, literal(m), st.c[m], func.count())
            .where(in_brands, st.c.dominant != NO_DAY).group_by(*keys, st.c[m])))


__all__ = ["facts_select", "rebuild_rollups", "refresh_rollups", "rollups_maintained"]
