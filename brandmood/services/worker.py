"""The worker loop behind ``brandmood worker``: claim queued jobs and run them, one at a time.

A :class:`Worker` registers itself (``job_worker``: its heartbeat tells the dashboard a
worker is alive), then claims the oldest claimable job (:func:`db.queries.jobs.claim_job`)
and runs it in the calling thread while a reporter thread writes the job's progress into
its row (at most once per ``progress_s``) and renews its lease. Nothing heavy is imported
until a job needs it: the models load inside the first analysis.

Stopping: :meth:`Worker.install_signal_handlers` makes SIGTERM and SIGINT stop the worker
cleanly. Idle, it exits at once; running a job, the signal interrupts the job
(:class:`JobInterrupted`, raised in the main thread; the analysis has committed every
asset it finished) and gives the job back to the queue, where the next worker resumes it.
A worker killed outright leaves its lease to expire; another worker then claims the job
and resumes it the same way. :func:`die_with_parent` ties a worker to the process that
started it (``brandmood serve``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from brandmood.services import audit
from brandmood.services.jobs import JobRunner, close_engines, run_job
from db.models import JobKind
from db.queries import jobs as q
from db.workspace import Workspace

log = logging.getLogger(__name__)

LIVE_WITHIN_S = 30.0
"""A worker whose last heartbeat is older than this is taken for gone (dashboard, CLI)."""
PR_SET_PDEATHSIG = 1
"""Linux ``prctl`` option: the signal this process gets when its parent dies."""


class JobInterrupted(BaseException):
    """Raised in the main thread by a stop signal to leave the running job.

    A ``BaseException`` (like ``KeyboardInterrupt``), so the job's own ``except
    Exception`` handlers do not swallow it.
    """


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs.

    Attributes:
        lease_s: how long a claim holds without renewal; a dead worker's job is claimed
            again after this.
        poll_s: wait between looks at an empty queue.
        progress_s: at most one progress write per this many seconds.
        max_attempts: claims of a job whose workers died before it is marked failed.
        engine: the analysis engine, passed on to the analysis (None: its default).
        name: the worker's name (default ``host:pid:random``).
    """

    lease_s: float = 60.0
    poll_s: float = 1.0
    progress_s: float = 1.0
    max_attempts: int = 3
    engine: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        for key in ("lease_s", "poll_s", "progress_s"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")

    @property
    def heartbeat_s(self) -> float:
        """How often the worker's heartbeat and the job's lease are renewed."""
        return min(10.0, self.lease_s / 3, LIVE_WITHIN_S / 3)


@dataclass
class JobOutcome:
    """What became of one claimed job in this worker.

    ``status``: ``done``, ``failed``, ``released`` (given back on a stop request) or
    ``lost`` (the lease expired meanwhile and another worker holds the job).
    """

    job_id: int
    kind: JobKind
    status: str
    attempt: int
    result: dict | None = None
    error: str | None = None
    seconds: float = 0.0


class JobReporter:
    """A job's progress reporter: keeps the newest ``(done, total, message)`` and a thread
    writes it into the job's row (throttled), renewing the lease and the worker's
    heartbeat. Called through the job's ``SafeProgress``; never blocks on the database."""

    def __init__(self, ws: Workspace, job_id: int, worker: str, opts: WorkerOptions) -> None:
        self.ws, self.job_id, self.worker, self.opts = ws, job_id, worker, opts
        self.lost = False
        self.writes = 0
        self._lock = threading.Lock()
        self._event: tuple[int, int, str] | None = None
        self._written: tuple[int, int, str] | None = None
        self._stop = threading.Event()
        self._next_beat = 0.0
        self._failed_once = False
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"job-{job_id}-reporter")

    def __call__(self, done: int, total: int, message: str) -> None:
        with self._lock:
            self._event = (int(done), int(total), str(message))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write the last progress."""
        self._stop.set()
        self._thread.join()
        self._tick()

    def _loop(self) -> None:
        while not self._stop.wait(self.opts.progress_s):
            self._tick()

    def _tick(self) -> None:
        with self._lock:
            event = self._event if self._event != self._written else None
        beat = time.monotonic() >= self._next_beat
        if event is None and not beat:
            return
        try:
            with self.ws.sessions.begin() as s:
                held = q.renew_lease(session=s, job_id=self.job_id, worker=self.worker,
                                     lease_s=self.opts.lease_s, progress=event)
                if beat:
                    q.worker_heartbeat(session=s, name=self.worker, job_id=self.job_id)
        except SQLAlchemyError:  # a busy or unreachable database: try again next tick
            if not self._failed_once:
                self._failed_once = True
                log.warning("could not record the progress of job %s", self.job_id,
                            exc_info=True)
            return
        self.writes += 1
        if beat:
            self._next_beat = time.monotonic() + self.opts.heartbeat_s
        if event is not None:
            self._written = event
        if not held and not self.lost:
            self.lost = True
            log.warning("worker %s no longer holds job %s (its lease expired)", self.worker,
                        self.job_id)


@dataclass
class Worker:
    """Claims and runs jobs until stopped (see the module docstring).

    Args:
        ws: the workspace (database + media store).
        opts: lease, polling, engine, name.
        runner: runs one claimed job (default :func:`brandmood.services.jobs.run_job`).
        on_event: told one line per event (started, each job's outcome, stopping).
    """

    ws: Workspace
    opts: WorkerOptions = field(default_factory=WorkerOptions)
    runner: JobRunner = run_job
    on_event: Callable[[str], None] | None = None
    name: str = ""
    outcomes: list[JobOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = self.opts.name or f"{socket.gethostname()}:{os.getpid()}:" \
                                      f"{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._busy = False
        self._next_beat = 0.0
        self._db_warned = 0.0

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Stop after the current job (thread-safe; the job itself goes on)."""
        self._stop.set()

    def interrupt(self, reason: str = "stop requested") -> None:
        """Stop now: called in the main thread (a signal handler), it raises
        :class:`JobInterrupted` there if a job is running, which gives it back."""
        self._stop.set()
        if self._busy:
            raise JobInterrupted(reason)

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the worker cleanly (main thread only)."""
        def handler(signum: int, _frame) -> None:
            self.interrupt(signal.Signals(signum).name)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, handler)

    def _say(self, line: str) -> None:
        if self.on_event is not None:
            self.on_event(line)

    def run(self, *, once: bool = False) -> list[JobOutcome]:
        """Claim and run jobs until stopped (``once``: until nothing is claimable)."""
        with self.ws.sessions.begin() as s:
            q.register_worker(session=s, name=self.name, host=socket.gethostname(),
                              pid=os.getpid(), engine=self.opts.engine or "")
        self._next_beat = time.monotonic() + self.opts.heartbeat_s
        self._say(f"worker {self.name} started (engine {self.opts.engine or 'default'})")
        try:
            while not self._stop.is_set():
                job = self._claim()
                if job is None:
                    if once:
                        break
                    self._idle()
                    continue
                self.outcomes.append(self._run_one(job))
        finally:
            try:
                with self.ws.sessions.begin() as s:
                    q.worker_stopped(session=s, name=self.name)
            except SQLAlchemyError:
                log.warning("could not record that worker %s stopped", self.name)
            close_engines()
            self._say(f"worker {self.name} stopped after {len(self.outcomes)} job(s)")
        return self.outcomes

    def _db_trouble(self, what: str) -> None:
        if time.monotonic() >= self._db_warned:  # at most one warning a minute
            self._db_warned = time.monotonic() + 60
            log.warning("worker %s could not %s; trying again", self.name, what,
                        exc_info=True)

    def _claim(self) -> q.ClaimedJob | None:
        try:
            with self.ws.session() as s:
                if not q.claimable_exists(session=s):
                    return None
            with self.ws.sessions.begin() as s:
                return q.claim_job(session=s, worker=self.name, lease_s=self.opts.lease_s,
                                   max_attempts=self.opts.max_attempts)
        except SQLAlchemyError:
            self._db_trouble("claim a job")
            return None

    def _idle(self) -> None:
        if time.monotonic() >= self._next_beat:
            try:
                with self.ws.sessions.begin() as s:
                    q.worker_heartbeat(session=s, name=self.name)
                self._next_beat = time.monotonic() + self.opts.heartbeat_s
            except SQLAlchemyError:
                self._db_trouble("record its heartbeat")
        self._stop.wait(self.opts.poll_s)

    def _run_one(self, job: q.ClaimedJob) -> JobOutcome:
        self._say(f"job {job.id} ({job.kind.value}) claimed"
                  + (f", attempt {job.attempts}: resuming" if job.resumed else ""))
        started = time.perf_counter()
        reporter = JobReporter(self.ws, job.id, self.name, self.opts)
        reporter.start()
        result: dict | None = None
        error: str | None = None
        try:
            try:
                self._busy = True
                if self._stop.is_set():
                    raise JobInterrupted("stop requested before the job started")
                result = self.runner(self.ws, job, reporter, engine=self.opts.engine)
            finally:
                self._busy = False
        except JobInterrupted:
            pass  # given back below unless it had finished
        except Exception as exc:  # the job's error is recorded; the worker goes on
            log.exception("job %s failed", job.id)
            error = f"{type(exc).__name__}: {str(exc).strip()}"[:2000]
        finally:
            reporter.stop()
        status = "done" if result is not None else "failed" if error else "released"
        with self.ws.sessions.begin() as s:
            if status == "done":
                held = q.finish_job(session=s, job_id=job.id, worker=self.name, result=result)
            elif status == "failed":
                held = q.fail_job(session=s, job_id=job.id, worker=self.name, error=error)
            else:
                held = q.release_job(session=s, job_id=job.id, worker=self.name)
            q.worker_heartbeat(session=s, name=self.name, job_id=None)
            if held and status != "released":
                audit.record_job(s, job_id=job.id, kind=job.kind.value, brand_id=job.brand_id,
                                 ok=status == "done", details=_job_details(result, error))
        outcome = JobOutcome(job.id, job.kind, status if held else "lost", job.attempts,
                             result, error, round(time.perf_counter() - started, 3))
        self._say(describe(outcome))
        return outcome


def _job_details(result: dict | None, error: str | None) -> dict:
    """What the audit trail keeps of a job's outcome: counts, not asset lists."""
    if result is None:
        return {"error": (error or "")[:300]}
    return {k: result.get(k) for k in ("analyzed", "failed", "faces", "model", "attempt")}


def describe(outcome: JobOutcome) -> str:
    """One line about a job's outcome."""
    head = f"job {outcome.job_id} ({outcome.kind.value}) {outcome.status}"
    if outcome.status == "done" and outcome.result is not None:
        r = outcome.result
        return (f"{head}: {r.get('analyzed', 0)} analyzed, {r.get('failed', 0)} failed, "
                f"{r.get('faces', 0)} faces in {outcome.seconds:.1f} s")
    if outcome.status == "failed":
        return f"{head}: {outcome.error}"
    if outcome.status == "released":
        return f"{head}: given back to the queue (the next worker resumes it)"
    return f"{head}: another worker holds it now"


def die_with_parent(parent_pid: int, *, poll_s: float = 1.0) -> None:
    """Stop this process (SIGTERM to itself) when ``parent_pid`` is no longer its parent.

    On Linux the kernel sends it (``PR_SET_PDEATHSIG``), even when the parent is killed
    with SIGKILL; a watch thread covers other systems and a parent that died before this
    call.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            log.warning("prctl(PR_SET_PDEATHSIG) is not available; watching the parent")

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


__all__ = ["LIVE_WITHIN_S", "JobInterrupted", "JobOutcome", "JobReporter", "Worker",
           "WorkerOptions", "describe", "die_with_parent"]
