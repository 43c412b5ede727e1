"""The job queue: enqueue, claim under a lease, heartbeat, progress, finish; workers' heartbeats.

A job is claimed by one worker at a time. :func:`claim_job` takes the oldest claimable
job (queued, or running under a lease that has expired because its worker died) and
holds it with a lease that the worker renews (:func:`renew_lease`) while it runs.

- PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``, so workers on many machines claim at
  once without waiting on each other and never take the same row.
- SQLite: the claim opens its transaction with ``BEGIN IMMEDIATE`` (the database's one
  write lock, taken before the read), so two local worker processes never both see the
  same job as claimable.

Every state change of a claimed job names the worker (``claimed_by``): a worker that lost
its lease (it stalled past it and another worker took the job) changes nothing.
Times are the workers' clocks in UTC (keep them in sync, e.g. NTP; leases are tens of
seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, select, true, update
from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope
from db.models import Asset, AssetStatus, Brand, Job, JobKind, JobStatus, JobWorker, utcnow
from db.queries.core import NotFoundError
from db.queries.selection import in_scope

MAX_MESSAGE = 500
"""Progress messages are cut to this many characters."""

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; every time stored here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class JobView:
    """One job as the dashboard and the CLI show it."""

    id: int
    kind: JobKind
    brand_id: int | None
    brand: str | None
    arguments: dict
    status: JobStatus
    done: int
    total: int
    message: str
    result: dict | None
    error: str | None
    attempts: int
    claimed_by: str | None
    lease_until: datetime | None
    heartbeat_at: datetime | None
    enqueued_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def active(self) -> bool:
        """Queued or running: not finished yet."""
        return self.status in ACTIVE

    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (0 without a total)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to run the job it claimed."""

    id: int
    kind: JobKind
    brand_id: int | None
    arguments: dict
    attempts: int
    """This claim included: 2 or more means an earlier worker started it and stopped."""

    @property
    def resumed(self) -> bool:
        return self.attempts > 1


@dataclass(frozen=True)
class WorkerView:
    """A worker process and its last heartbeat."""

    name: str
    host: str
    pid: int
    engine: str
    job_id: int | None
    started_at: datetime
    heartbeat_at: datetime


def enqueue_job(*, session: Session, kind: JobKind, arguments: dict | None = None,
                brand_id: int | None = None, enqueued_by: str | None = None,
                total: int = 0) -> int:
    """Queue a job; returns its id (visible to workers once the transaction commits).

    Raises:
        ValueError: ``kind`` is not a :class:`JobKind` or ``total`` is negative.
    """
    if not isinstance(kind, JobKind):
        raise ValueError(f"unknown job kind {kind!r}")
    if total < 0:
        raise ValueError(f"total must not be negative, got {total}")
    job = Job(kind=kind, arguments=dict(arguments or {}), brand_id=brand_id,
              enqueued_by=enqueued_by[:200] if enqueued_by else None, total=total, done=0,
              message="", attempts=0, status=JobStatus.QUEUED)
    session.add(job)
    session.flush()
    return job.id


def _claimable(now: datetime):
    return or_(Job.status == JobStatus.QUEUED,
               and_(Job.status == JobStatus.RUNNING, Job.lease_until < now))


def claimable_exists(*, session: Session, now: datetime | None = None) -> bool:
    """Whether any job is claimable now (a cheap read that takes no lock)."""
    return bool(session.scalar(select(exists().where(_claimable(now or utcnow())))))


def _begin_immediate(session: Session) -> None:
    """On SQLite, open the session's transaction with the write lock (``BEGIN IMMEDIATE``)."""
    conn = session.connection()
    raw = conn.connection.driver_connection
    if raw.in_transaction:
        raise RuntimeError("claim_job must run first in its own transaction on SQLite "
                           "(it takes the write lock before reading)")
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def claim_job(*, session: Session, worker: str, lease_s: float, max_attempts: int = 3,
              now: datetime | None = None) -> ClaimedJob | None:
    """Claim the oldest claimable job for ``worker`` until ``now + lease_s``.

    Call it first in a fresh transaction (``with ws.sessions.begin() as s``) and commit
    at once. A running job whose lease expired is claimed again (``attempts`` + 1);
    one whose workers already stopped answering ``max_attempts`` times is marked failed
    instead (a job that kills every worker that runs it must not loop forever).

    Returns:
        The claimed job, or None when nothing is claimable.

    Raises:
        ValueError: ``lease_s`` is not positive, ``worker`` is empty or ``max_attempts``
            is below 1.
    """
    if not lease_s > 0:
        raise ValueError(f"lease_s must be positive, got {lease_s}")
    if not worker:
        raise ValueError("a worker name is required")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        _begin_immediate(session)
    now = now or utcnow()
    q = (select(Job).where(_claimable(now)).order_by(Job.id).limit(1)
         .execution_options(populate_existing=True))
    if dialect != "sqlite":
        q = q.with_for_update(skip_locked=True)
    while True:
        job = session.scalars(q).first()
        if job is None:
            return None
        if job.status is JobStatus.RUNNING and job.attempts >= max_attempts:
            job.status = JobStatus.FAILED
            job.error = (f"gave up after {job.attempts} attempts: the worker running it "
                         f"stopped answering (last {job.claimed_by})")
            job.lease_until, job.finished_at = None, now
            session.flush()
            continue
        job.status = JobStatus.RUNNING
        job.claimed_by = worker[:200]
        job.attempts += 1
        job.lease_until = now + timedelta(seconds=lease_s)
        job.heartbeat_at = now
        job.started_at = job.started_at or now
        session.flush()
        return ClaimedJob(id=job.id, kind=job.kind, brand_id=job.brand_id,
                          arguments=dict(job.arguments or {}), attempts=job.attempts)


def _mine(job_id: int, worker: str):
    return and_(Job.id == job_id, Job.claimed_by == worker, Job.status == JobStatus.RUNNING)


def renew_lease(*, session: Session, job_id: int, worker: str, lease_s: float,
                progress: tuple[int, int, str] | None = None,
                now: datetime | None = None) -> bool:
    """Extend the lease of a job ``worker`` runs (and store its progress, if given).

    Returns:
        False if the worker no longer holds the job (its lease expired and another
        worker took it, or it was finished): nothing was changed then.
    """
    now = now or utcnow()
    values: dict = {"lease_until": now + timedelta(seconds=lease_s), "heartbeat_at": now}
    if progress is not None:
        done, total, message = progress
        values.update(done=max(0, int(done)), total=max(0, int(total)),
                      message=str(message)[:MAX_MESSAGE])
    res = session.execute(update(Job).where(_mine(job_id, worker)).values(**values))
    return res.rowcount == 1


def finish_job(*, session: Session, job_id: int, worker: str, result: dict,
               now: datetime | None = None) -> bool:
    """Mark a job ``worker`` holds done with its result; False if it no longer holds it."""
    res = session.execute(update(Job).where(_mine(job_id, worker)).values(
        status=JobStatus.DONE, result=result, lease_until=None,
        finished_at=now or utcnow()))
    return res.rowcount == 1


def fail_job(*, session: Session, job_id: int, worker: str, error: str,
             now: datetime | None = None) -> bool:
    """Mark a job ``worker`` holds failed with the reason; False if it no longer holds it."""
    reason = (str(error).strip() or "failed")[:2000]
    res = session.execute(update(Job).where(_mine(job_id, worker)).values(
        status=JobStatus.FAILED, error=reason, lease_until=None,
        finished_at=now or utcnow()))
    return res.rowcount == 1


def release_job(*, session: Session, job_id: int, worker: str) -> bool:
    """Give a job back to the queue (a worker asked to stop): the next claim resumes it.

    The attempt is not counted against the job (the worker stopped on request, it did
    not die). Returns False if ``worker`` no longer holds the job.
    """
    res = session.execute(update(Job).where(_mine(job_id, worker)).values(
        status=JobStatus.QUEUED, claimed_by=None, lease_until=None,
        attempts=Job.attempts - 1))
    return res.rowcount == 1


def job_assets(*, session: Session, asset_ids: Sequence[int],
               pending_only: bool) -> tuple[list[int], list[int]]:
    """``(ids to analyze, ids that no longer exist)`` of a job's assets, in id order.

    ``pending_only``: keep only assets still pending (what a resumed job has left: each
    asset an earlier attempt finished is analyzed or failed, committed on its own).
    """
    ids = sorted({int(i) for i in asset_ids})
    rows = dict(session.execute(select(Asset.id, Asset.status).where(Asset.id.in_(ids))).all())
    keep = [i for i in ids if i in rows
            and (not pending_only or rows[i] is AssetStatus.PENDING)]
    return keep, [i for i in ids if i not in rows]


def _views(session: Session, where: Sequence, limit: int | None) -> list[JobView]:
    q = (select(Job, Brand.name).outerjoin(Brand, Brand.id == Job.brand_id).where(*where)
         .order_by(Job.id.desc()))
    if limit is not None:
        q = q.limit(limit)
    return [JobView(
        id=j.id, kind=j.kind, brand_id=j.brand_id, brand=name, arguments=dict(j.arguments or {}),
        status=j.status, done=j.done, total=j.total, message=j.message, result=j.result,
        error=j.error, attempts=j.attempts, claimed_by=j.claimed_by,
        lease_until=_aware(j.lease_until), heartbeat_at=_aware(j.heartbeat_at),
        enqueued_by=j.enqueued_by, created_at=_aware(j.created_at),
        started_at=_aware(j.started_at), finished_at=_aware(j.finished_at))
        for j, name in session.execute(q).all()]


def get_job(*, session: Session, job_id: int, scope: BrandScope) -> JobView:
    """One job of a brand in ``scope`` (a job of no brand is workspace-wide: owners').

    Raises:
        NotFoundError: no job in ``scope`` has this id (another brand's job is not told
            apart from a missing one).
    """
    found = _views(session, [Job.id == job_id, _job_in_scope(scope)], 1)
    if not found:
        raise NotFoundError(f"no job {job_id}")
    return found[0]


def _job_in_scope(scope: BrandScope) -> ColumnElement[bool]:
    return true() if scope.is_all else in_scope(Job.brand_id, scope)


def list_jobs(*, session: Session, scope: BrandScope, limit: int = 50,
              statuses: Sequence[JobStatus] | None = None,
              brand_id: int | None = None) -> list[JobView]:
    """Newest jobs of the brands in ``scope`` first (optionally only these statuses, or
    one brand's); jobs of no brand are workspace-wide and listed for owners only."""
    where = [_job_in_scope(scope)]
    if statuses is not None:
        where.append(Job.status.in_(list(statuses)))
    if brand_id is not None:
        where.append(Job.brand_id == brand_id)
    return _views(session, where, limit)


def register_worker(*, session: Session, name: str, host: str, pid: int, engine: str = "",
                    now: datetime | None = None) -> None:
    """Record a starting worker (a restarted name starts afresh)."""
    now = now or utcnow()
    row = session.get(JobWorker, name)
    if row is None:
        row = JobWorker(name=name)
        session.add(row)
    row.host, row.pid, row.engine = host[:200], int(pid), engine[:100]
    row.job_id, row.started_at, row.heartbeat_at, row.stopped_at = None, now, now, None
    session.flush()


def worker_heartbeat(*, session: Session, name: str, job_id: int | None = None,
                     now: datetime | None = None) -> None:
    """A worker says it is alive (and which job it runs, if any)."""
    session.execute(update(JobWorker).where(JobWorker.name == name).values(
        heartbeat_at=now or utcnow(), job_id=job_id))


def worker_stopped(*, session: Session, name: str, now: datetime | None = None) -> None:
    """A worker says it stops."""
    session.execute(update(JobWorker).where(JobWorker.name == name).values(
        stopped_at=now or utcnow(), job_id=None))


def live_workers(*, session: Session, within_s: float,
                 now: datetime | None = None) -> list[WorkerView]:
    """Workers not stopped whose last heartbeat is at most ``within_s`` seconds old."""
    since = (now or utcnow()) - timedelta(seconds=within_s)
    rows = session.scalars(select(JobWorker).where(
        JobWorker.stopped_at.is_(None), JobWorker.heartbeat_at >= since)
        .order_by(JobWorker.started_at)).all()
    return [WorkerView(name=w.name, host=w.host, pid=w.pid, engine=w.engine, job_id=w.job_id,
                       started_at=_aware(w.started_at), heartbeat_at=_aware(w.heartbeat_at))
            for w in rows]


__all__ = ["ACTIVE", "ClaimedJob", "JobView", "WorkerView", "claim_job", "claimable_exists",
           "enqueue_job", "fail_job", "finish_job", "get_job", "job_assets", "list_jobs",
           "live_workers", "register_worker", "release_job", "renew_lease", "worker_heartbeat",
           "worker_stopped"]
