"""Analysis runs, per-asset outcomes, frames and faces: what ``brandmood analyze`` writes.

A run is identified by its *signature*: classifier name, version and weights sha256,
detector, and parameters. Running the job again with the same signature continues the
latest such run (a killed job resumes; new assets are added to it), so a dashboard that
picks a run sees every asset; another model or other parameters start a new run.

Results are idempotent. The unit of work is (asset, run): an asset is one brand's copy
of one content hash and a run is one model signature, and ``asset_analysis`` holds at
most one outcome per pair (its unique key). A writer first takes the asset's row lock
(an ``UPDATE`` of its status: a row lock on PostgreSQL, the write lock on SQLite), then
upserts the outcome (``INSERT … ON CONFLICT (asset_id, run_id) DO UPDATE``) and replaces
the run's faces of the asset, all in one transaction: a retried or duplicated result,
even from another process at the same moment, leaves exactly one outcome and one set of
faces, and the per-asset summary (:class:`AssetFaceCounts`) follows in the same
transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, and_, case, delete, func, insert, literal, null, select, update
from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope
from brandmood.core.types import LABELS, FaceDetections
from db.models import (
    AnalysisRun,
    Asset,
    AssetAnalysis,
    AssetFaceCounts,
    AssetKind,
    AssetStatus,
    Face,
    Frame,
    RunStatus,
    utcnow,
)
from db.queries.core import NotFoundError
from db.queries.faces import face_values
from db.queries.rollups import rebuild_rollups, refresh_rollups
from db.queries.selection import DashboardFilters, counted_faces, current_runs


@dataclass(frozen=True)
class RunSignature:
    """What makes two analyses comparable: same models, same settings."""

    model_name: str
    model_version: str
    weights_sha256: str
    detector: str
    parameters: dict


def find_run(*, session: Session, signature: RunSignature) -> AnalysisRun | None:
    """The latest run with exactly this signature, if any."""
    q = (select(AnalysisRun)
         .where(AnalysisRun.model_name == signature.model_name,
                AnalysisRun.model_version == signature.model_version,
                AnalysisRun.weights_sha256 == signature.weights_sha256,
                AnalysisRun.detector == signature.detector)
         .order_by(AnalysisRun.id.desc()))
    for run in session.scalars(q):
        if run.parameters == signature.parameters:
            return run
    return None


def start_run(*, session: Session, signature: RunSignature,
              new_run: bool = False) -> tuple[AnalysisRun, bool]:
    """Continue the latest run with this signature, or create one.

    Args:
        signature: models and parameters of the job.
        new_run: always create a new run.

    Returns:
        The run (status RUNNING) and whether it was an existing one.
    """
    run = None if new_run else find_run(session=session, signature=signature)
    resumed = run is not None
    if run is None:
        run = AnalysisRun(model_name=signature.model_name, model_version=signature.model_version,
                          weights_sha256=signature.weights_sha256, detector=signature.detector,
                          parameters=signature.parameters, timings={})
        session.add(run)
    run.status = RunStatus.RUNNING
    run.finished_at = None
    session.flush()
    return run, resumed


def assets_to_analyze(*, session: Session, run_id: int,
                      asset_ids: Sequence[int] | None = None) -> list[int]:
    """Asset ids the job should process in this run, oldest first.

    Without ``asset_ids``: every asset this run has not analyzed yet, except those it
    already failed on and that are still marked failed (reset an asset to pending to
    retry it). With ``asset_ids``: exactly those (re-analyzed even if done).

    Raises:
        NotFoundError: if a given id names no asset.
    """
    if asset_ids is not None:
        ids = sorted(set(int(i) for i in asset_ids))
        found = set(session.scalars(select(Asset.id).where(Asset.id.in_(ids))))
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"no asset with id {', '.join(map(str, missing))}")
        return ids
    done = select(AssetAnalysis.asset_id).where(
        AssetAnalysis.run_id == run_id, AssetAnalysis.status == AssetStatus.ANALYZED)
    failed = select(AssetAnalysis.asset_id).where(
        AssetAnalysis.run_id == run_id, AssetAnalysis.status == AssetStatus.FAILED)
    q = (select(Asset.id)
         .where(Asset.id.not_in(done),
                ~(Asset.id.in_(failed) & (Asset.status == AssetStatus.FAILED)))
         .order_by(Asset.id))
    return list(session.scalars(q))


def count_done(*, session: Session, run_id: int) -> int:
    """Assets this run has an outcome for (analyzed or failed)."""
    return int(session.scalar(select(func.count(AssetAnalysis.id))
                              .where(AssetAnalysis.run_id == run_id)) or 0)


def face_counts_select(*, dialect: str, asset_ids: Sequence[int] | None = None) -> Select:
    """``SELECT`` of :class:`AssetFaceCounts` rows from the faces of each asset's current run.

    The counted faces of the dashboard's default view (:func:`counted_faces` with no
    filter); an asset without an analyzed run gets no row, one without labelled faces a
    row of zeros.

    Args:
        dialect: ``session.get_bind().dialect.name`` (the maximum of many values differs).
        asset_ids: only these assets (None: every asset).
    """
    cur = current_runs(None if asset_ids is None else list(asset_ids))
    faces = counted_faces(DashboardFilters(scope=BrandScope.ALL),  # the job: every brand
                          asset_id=cur.c.asset_id, run_id=cur.c.run_id)
    per = (select(cur.c.asset_id, cur.c.run_id, func.count(Face.id).label("n_faces"),
                  *(func.count(case((faces.has_label(lbl), 1))).label(f"n_{lbl}")
                    for lbl in LABELS))
           .select_from(cur.outerjoin(Face, and_(*faces.on)))
           .group_by(cur.c.asset_id, cur.c.run_id).subquery("per"))
    ns = [per.c[f"n_{lbl}"] for lbl in LABELS]
    top = func.max(*ns) if dialect == "sqlite" else func.greatest(*ns)
    dominant = case((per.c.n_faces == 0, null()),
                    *((n == top, literal(lbl)) for n, lbl in zip(ns, LABELS, strict=True)))
    return select(per.c.asset_id, per.c.run_id, per.c.n_faces, *ns, dominant.label("dominant"))


def refresh_face_counts(*, session: Session, asset_ids: Sequence[int] | None = None) -> None:
    """Rewrite the :class:`AssetFaceCounts` rows of these assets (None: all) from their faces,
    and their rollups (:mod:`db.queries.rollups`; None: a full rebuild).

    Call it in the transaction that writes or deletes an asset's faces or outcomes.
    """
    ids = None if asset_ids is None else sorted(set(int(i) for i in asset_ids))
    stmt = delete(AssetFaceCounts)
    if ids is not None:
        stmt = stmt.where(AssetFaceCounts.asset_id.in_(ids))
    session.execute(stmt)
    sel = face_counts_select(dialect=session.get_bind().dialect.name, asset_ids=ids)
    cols = ["asset_id", "run_id", "n_faces", *(f"n_{lbl}" for lbl in LABELS), "dominant"]
    session.execute(insert(AssetFaceCounts).from_select(cols, sel))
    if ids is None:
        rebuild_rollups(session=session)
    else:
        refresh_rollups(session=session, asset_ids=ids)


def _frame_ids(session: Session, asset_id: int, timestamps: Sequence[int]) -> dict[int, int]:
    """``timestamp_ms -> frame id`` for an asset, creating missing frames."""
    wanted = sorted(set(int(t) for t in timestamps))
    have = dict(session.execute(select(Frame.timestamp_ms, Frame.id).where(
        Frame.asset_id == asset_id, Frame.timestamp_ms.in_(wanted))).all())
    new = [Frame(asset_id=asset_id, timestamp_ms=t) for t in wanted if t not in have]
    if new:
        session.add_all(new)
        session.flush()
        have.update({f.timestamp_ms: f.id for f in new})
    return have


def _claim_asset(session: Session, asset_id: int, *, status: AssetStatus,
                 error: str | None) -> bool:
    """Set the asset's status, which locks its row until the transaction ends (writers of
    the same asset queue here); False if the asset no longer exists."""
    done = session.execute(update(Asset).where(Asset.id == asset_id)
                           .values(status=status, error=error)
                           .execution_options(synchronize_session=False))
    return bool(done.rowcount)


def _upsert_outcome(session: Session, values: dict) -> None:
    """Insert the (asset, run) outcome, or overwrite the one already there."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        raise NotImplementedError(f"no upsert for the {dialect} dialect")
    stmt = dialect_insert(AssetAnalysis).values(**values)
    keys = ("asset_id", "run_id")
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: stmt.excluded[c] for c in values if c not in keys})
    session.execute(stmt)


_OUTCOME_DEFAULTS = {"error": None, "n_frames": 0, "n_faces": 0, "summary": {}}


def write_asset_result(*, session: Session, run_id: int, asset_id: int,
                       frames: Sequence[tuple[int, FaceDetections]], summary: dict,
                       seconds: float,
                       ita: Sequence[Sequence[float] | None] | None = None) -> int | None:
    """Store an analyzed asset: frames, faces and its outcome; marks it analyzed.

    Idempotent (see the module docstring): replaces whatever this run stored for the
    asset before, so the same result written twice, or by two processes at once, leaves
    one set of faces.

    Args:
        ita: per frame, each face's skin-tone angle in degrees (NaN or None: not
            estimated), or None for the whole frame / asset (``face.ita`` stays NULL).

    Returns:
        The number of faces written (None: no such asset, nothing written).
    """
    if not _claim_asset(session, asset_id, status=AssetStatus.ANALYZED, error=None):
        return None
    ids = _frame_ids(session, asset_id, [ts for ts, _ in frames])
    angles = list(ita) if ita is not None else [None] * len(frames)
    if len(angles) != len(frames):
        raise ValueError(f"ita has {len(angles)} entries for {len(frames)} frames")
    rows = [{"frame_id": ids[int(ts)], "run_id": run_id, "asset_id": asset_id,
             **face_values(row), "ita": _angle(frame_ita, i)}
            for (ts, faces), frame_ita in zip(frames, angles, strict=True)
            for i, row in enumerate(faces.to_rows())]
    _upsert_outcome(session, {**_OUTCOME_DEFAULTS, "asset_id": asset_id, "run_id": run_id,
                              "status": AssetStatus.ANALYZED, "n_frames": len(frames),
                              "n_faces": len(rows), "summary": summary,
                              "seconds": float(seconds)})
    session.execute(delete(Face).where(Face.run_id == run_id, Face.asset_id == asset_id))
    if rows:
        session.execute(insert(Face), rows)
    refresh_face_counts(session=session, asset_ids=[asset_id])
    return len(rows)


def _angle(values: Sequence[float] | None, i: int) -> float | None:
    """The ``i``-th angle as a column value (None where unknown or NaN)."""
    if values is None:
        return None
    v = float(values[i])
    return None if math.isnan(v) else v


def write_asset_failure(*, session: Session, run_id: int, asset_id: int, reason: str,
                        seconds: float) -> bool:
    """Record that an asset could not be analyzed, with the reason; marks it failed.

    Idempotent like :func:`write_asset_result` (the run's faces of the asset go).

    Returns:
        False if there is no such asset (nothing written).
    """
    reason = (reason.strip() or "analysis failed")[:2000]
    if not _claim_asset(session, asset_id, status=AssetStatus.FAILED, error=reason):
        return False
    _upsert_outcome(session, {**_OUTCOME_DEFAULTS, "asset_id": asset_id, "run_id": run_id,
                              "status": AssetStatus.FAILED, "error": reason,
                              "seconds": float(seconds)})
    session.execute(delete(Face).where(Face.run_id == run_id, Face.asset_id == asset_id))
    refresh_face_counts(session=session, asset_ids=[asset_id])
    return True


def asset_media(*, session: Session, asset_ids: Sequence[int]
                ) -> list[tuple[int, AssetKind, str]]:
    """``(asset id, kind, media path)`` of these assets, by id (missing ones left out)."""
    ids = sorted(set(int(i) for i in asset_ids))
    out: list[tuple[int, AssetKind, str]] = []
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        out += [(int(i), k, str(p)) for i, k, p in session.execute(
            select(Asset.id, Asset.kind, Asset.media_path).where(Asset.id.in_(chunk))
            .order_by(Asset.id))]
    return out


def finish_run(*, session: Session, run_id: int, timings: dict[str, float],
               status: RunStatus = RunStatus.DONE) -> AnalysisRun:
    """Recount the run's assets and faces, add this job's timings, and close it."""
    run = session.get(AnalysisRun, run_id)
    if run is None:
        raise NotFoundError(f"no analysis run {run_id}")
    counts = dict(session.execute(
        select(AssetAnalysis.status, func.count(AssetAnalysis.id))
        .where(AssetAnalysis.run_id == run_id).group_by(AssetAnalysis.status)).all())
    run.n_assets = int(sum(counts.values()))
    run.n_failed = int(counts.get(AssetStatus.FAILED, 0))
    run.n_faces = int(session.scalar(select(func.count(Face.id))
                                     .where(Face.run_id == run_id)) or 0)
    total = dict(run.timings or {})
    for key, value in timings.items():
        total[key] = round(float(total.get(key, 0.0)) + float(value), 4)
    total["jobs"] = int(total.get("jobs", 0)) + 1
    run.timings = total
    run.status = status
    run.finished_at = utcnow()
    session.flush()
    return run


def get_run(*, session: Session, run_id: int) -> AnalysisRun:
    """One run.

    Raises:
        NotFoundError: if it does not exist.
    """
    run = session.get(AnalysisRun, run_id)
    if run is None:
        raise NotFoundError(f"no analysis run {run_id}")
    return run


def run_faces(*, session: Session, run_id: int, asset_id: int | None = None) -> Sequence[Face]:
    """Faces of a run (optionally of one asset), in frame order."""
    q = (select(Face).join(Frame, Frame.id == Face.frame_id).where(Face.run_id == run_id)
         .order_by(Face.asset_id, Frame.timestamp_ms, Face.id))
    if asset_id is not None:
        q = q.where(Face.asset_id == asset_id)
    return session.scalars(q).all()


def asset_outcomes(*, session: Session, run_id: int) -> Sequence[AssetAnalysis]:
    """Per-asset outcomes of a run, by asset id."""
    return session.scalars(select(AssetAnalysis).where(AssetAnalysis.run_id == run_id)
                           .order_by(AssetAnalysis.asset_id)).all()


def frames_of(*, session: Session, asset_id: int) -> Sequence[Frame]:
    """Stored frames of an asset, by timestamp."""
    return session.scalars(select(Frame).where(Frame.asset_id == asset_id)
                           .order_by(Frame.timestamp_ms)).all()


__all__ = ["RunSignature", "asset_media", "asset_outcomes", "assets_to_analyze",
           "count_done", "face_counts_select", "find_run",
           "finish_run", "frames_of", "get_run", "refresh_face_counts", "run_faces",
           "start_run", "write_asset_failure", "write_asset_result"]
