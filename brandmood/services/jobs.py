"""What queued jobs do, and how the dashboard and the CLI queue them.

A job names its assets in its arguments (``asset_ids``; None: every pending asset) and
its worker runs the analysis over them (:func:`analyze`, the one call of
:func:`brandmood.services.analyze.run_analysis` a worker makes, where the analysis engine
is passed on). The analysis commits each asset on its own, so a job that an earlier
worker started (``ClaimedJob.resumed``) only analyzes what is still pending: nothing is
analyzed twice into the results and nothing is lost.

Queueing (:func:`enqueue_analysis`, :func:`enqueue_reanalysis`) happens in the caller's
transaction, so a job exists exactly when what it needs (the stored upload, the reset
assets) does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope, Principal
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.core.progress import Progress
from brandmood.services import audit
from db.models import JobKind
from db.queries import jobs as q
from db.queries.dashboard_jobs import reset_failed_assets
from db.workspace import Workspace

if TYPE_CHECKING:  # the analysis imports the models' code: loaded when a job needs it
    from brandmood.services.analyze import AnalysisSummary
    from brandmood.services.engines import Engine

log = logging.getLogger(__name__)

MAX_FAILURES_SHOWN = 50
"""A job's result lists at most this many failed assets with their reasons."""


def analyze(ws: Workspace, *, engine: str | None = None, **kwargs) -> AnalysisSummary:
    """Run the analysis for a job: the one place a worker calls it.

    Args:
        ws: the workspace.
        engine: the analysis engine's name (``brandmood worker --engine``: ``local`` or
            ``ray``); None: the settings' (``BRANDMOOD_ENGINE``). A worker builds each
            engine once and keeps it for its later jobs (:func:`close_engines` at exit).
        kwargs: ``run_analysis``'s other arguments (``asset_ids``, ``model``, ...).
    """
    from brandmood.services.analyze import run_analysis  # loads the models' code

    return run_analysis(ws, engine=_engine(ws, engine or ws.config.engine), **kwargs)


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(ws: Workspace, name: str) -> Engine:
    from brandmood.services.engines import engine_for

    with _ENGINES_LOCK:
        if name not in _ENGINES:
            _ENGINES[name] = engine_for(ws.config, name=name)
        return _ENGINES[name]


def close_engines() -> None:
    """Release the engines this process built (a Ray cluster it started stops)."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        try:
            engine.close()
        except Exception:  # a worker's exit never fails on its engine
            log.warning("could not close an analysis engine", exc_info=True)


def enqueue_analysis(*, session: Session, kind: JobKind, asset_ids: Sequence[int] | None,
                     brand_id: int | None = None, model: str | None = None,
                     every_s: float = 1.0, enqueued_by: str | None = None,
                     details: dict | None = None, actor: Principal | None = None) -> int:
    """Queue the analysis of ``asset_ids`` (None: every pending asset); returns the job id.

    Args:
        details: shown with the job (e.g. an upload's stored / duplicate / refused files).
        actor: who queued it: the job is recorded in the audit trail (an upload, else an
            ingest) in the same transaction.

    Raises:
        ValueError: ``every_s`` is not positive.
    """
    if not every_s > 0:
        raise ValueError(f"every_s must be positive, got {every_s}")
    ids = None if asset_ids is None else sorted({int(i) for i in asset_ids})
    args = {"asset_ids": ids, "model": model, "every_s": float(every_s),
            "details": dict(details or {})}
    job_id = q.enqueue_job(session=session, kind=kind, arguments=args, brand_id=brand_id,
                           enqueued_by=enqueued_by, total=len(ids) if ids is not None else 0)
    if actor is not None:
        audit.record(session, actor,
                     AuditAction.UPLOAD if kind is JobKind.UPLOAD else AuditAction.INGEST,
                     brand_id=brand_id, object_kind=ObjectKind.JOB, object_id=job_id,
                     details={"kind": kind.value, "assets": len(ids) if ids is not None
                              else "every pending",
                              **{k: v for k, v in (details or {}).items()
                                 if k in ("files", "stored", "ingest_run_id")}})
    return job_id


def enqueue_reanalysis(*, session: Session, asset_ids: Sequence[int], scope: BrandScope,
                       enqueued_by: str | None = None, actor: Principal | None = None
                       ) -> tuple[int | None, list[int]]:
    """Put failed assets of the brands in ``scope`` back to pending and queue their
    analysis, in one transaction.

    Returns:
        ``(job id, reset ids)``; ``(None, [])`` when none of them had failed.
    """
    ids = reset_failed_assets(session=session, asset_ids=list(asset_ids), scope=scope)
    if not ids:
        return None, []
    return enqueue_analysis(session=session, kind=JobKind.REANALYZE, asset_ids=ids,
                            enqueued_by=enqueued_by, actor=actor), ids


JobRunner = Callable[..., dict]
"""``runner(ws, job, progress, engine=...) -> result``: what a worker calls for one job."""


def run_job(ws: Workspace, job: q.ClaimedJob, progress: Progress, *,
            engine: str | None = None) -> dict:
    """Run one claimed job; returns its result (JSON-ready).

    Raises:
        ValueError: the job's kind has no handler or its arguments are malformed.
        Whatever the analysis raises (the worker records it as the job's error).
    """
    if job.kind not in (JobKind.UPLOAD, JobKind.ANALYZE, JobKind.REANALYZE):
        raise ValueError(f"no handler for jobs of kind {job.kind}")
    return _analysis_job(ws, job, progress, engine=engine)


def _analysis_job(ws: Workspace, job: q.ClaimedJob, progress: Progress, *,
                  engine: str | None) -> dict:
    args = job.arguments
    every_s = float(args.get("every_s") or 1.0)
    raw_ids = args.get("asset_ids")
    started = time.perf_counter()
    gone: list[int] = []
    ids = None
    if raw_ids is not None:
        if not isinstance(raw_ids, list):
            raise ValueError(f"asset_ids must be a list, got {type(raw_ids).__name__}")
        with ws.session() as session:
            ids, gone = q.job_assets(session=session, asset_ids=raw_ids,
                                     pending_only=job.resumed)
        if not ids:
            return _result(job, None, [], gone, started)
    summary = analyze(ws, engine=engine, asset_ids=ids, model=args.get("model"),
                      every_s=every_s, progress=progress)
    return _result(job, summary, ids, gone, started)


def _result(job: q.ClaimedJob, summary: AnalysisSummary | None, ids: list[int] | None,
            gone: list[int], started: float) -> dict:
    """A job's result: counts of this attempt, its assets and the failures with reasons."""
    failures = [] if summary is None else [
        {"asset_id": i.asset_id, "reason": i.reason} for i in summary.items if i.reason]
    analyzed = [] if summary is None else [
        i.asset_id for i in summary.items if i.reason is None]
    return {"run_id": None if summary is None else summary.run_id,
            "model": None if summary is None else summary.model,
            "analyzed": len(analyzed), "failed": len(failures),
            "faces": 0 if summary is None else summary.faces,
            "asset_ids": None if ids is None else analyzed + [f["asset_id"] for f in failures],
            "gone": gone, "resumed": job.resumed, "attempt": job.attempts,
            "failures": failures[:MAX_FAILURES_SHOWN],
            "seconds": round(time.perf_counter() - started, 3)}


__all__ = ["JobRunner", "analyze", "enqueue_analysis", "enqueue_reanalysis", "run_job"]
