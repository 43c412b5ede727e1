"""The job queue on SQLite and PostgreSQL: claims are exclusive under contention (threads and
processes, repeated), leases expire into a resumed claim, a worker that lost its lease
changes nothing, progress and heartbeats land in the rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from brandmood.core.access import BrandScope
from db.models import Asset, AssetKind, AssetStatus, Job, JobKind, JobStatus, utcnow
from db.queries import jobs as q
from db.queries.core import NotFoundError, get_or_create_brand
from db.workspace import Workspace
from tests.conftest import REPO


def _enqueue(ws: Workspace, n: int) -> list[int]:
    with ws.sessions.begin() as s:
        return [q.enqueue_job(session=s, kind=JobKind.ANALYZE, arguments={"n": i})
                for i in range(n)]


def _claim(ws: Workspace, worker: str, **kw) -> q.ClaimedJob | None:
    with ws.sessions.begin() as s:
        return q.claim_job(session=s, worker=worker, lease_s=kw.pop("lease_s", 30), **kw)


def test_enqueue_claim_progress_finish(any_ws):
    ws = any_ws
    with ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        job_id = q.enqueue_job(session=s, kind=JobKind.UPLOAD, arguments={"asset_ids": [3, 1]},
                               brand_id=brand.id, enqueued_by="ana@example.com", total=2)
    with ws.session() as s:
        view = q.get_job(session=s, job_id=job_id, scope=BrandScope.ALL)
        assert q.claimable_exists(session=s)
    assert (view.status, view.kind, view.brand, view.attempts) == (
        JobStatus.QUEUED, JobKind.UPLOAD, "Acme", 0)
    assert view.active and view.enqueued_by == "ana@example.com" and view.total == 2
    job = _claim(ws, "w1")
    assert job is not None and (job.id, job.attempts, job.resumed) == (job_id, 1, False)
    assert job.arguments == {"asset_ids": [3, 1]}
    assert _claim(ws, "w2") is None  # held under a lease
    with ws.sessions.begin() as s:
        assert q.renew_lease(session=s, job_id=job_id, worker="w1", lease_s=30,
                             progress=(1, 2, "x" * 900))
        assert not q.renew_lease(session=s, job_id=job_id, worker="w2", lease_s=30)
    with ws.session() as s:
        view = q.get_job(session=s, job_id=job_id, scope=BrandScope.ALL)
        assert not q.claimable_exists(session=s)
    assert (view.status, view.done, view.total, len(view.message)) == (
        JobStatus.RUNNING, 1, 2, q.MAX_MESSAGE)
    assert view.claimed_by == "w1" and view.lease_until > view.heartbeat_at
    assert view.fraction == 0.5
    with ws.sessions.begin() as s:
        assert not q.finish_job(session=s, job_id=job_id, worker="w2", result={})
        assert q.finish_job(session=s, job_id=job_id, worker="w1", result={"faces": 4})
        assert not q.fail_job(session=s, job_id=job_id, worker="w1", error="late")
    with ws.session() as s:
        view = q.get_job(session=s, job_id=job_id, scope=BrandScope.ALL)
        done = q.list_jobs(session=s, scope=BrandScope.ALL, statuses=[JobStatus.DONE])
        assert [j.id for j in done] == [job_id]
        assert q.list_jobs(session=s, scope=BrandScope.ALL, statuses=list(q.ACTIVE)) == []
        with pytest.raises(NotFoundError):
            q.get_job(session=s, job_id=job_id + 1, scope=BrandScope.ALL)
    assert (view.status, view.result, view.error, view.lease_until) == (
        JobStatus.DONE, {"faces": 4}, None, None)
    assert view.finished_at >= view.started_at >= view.created_at


def test_bad_arguments_are_clear_errors(ws):
    with ws.sessions.begin() as s:
        with pytest.raises(ValueError, match="unknown job kind"):
            q.enqueue_job(session=s, kind="analyze")
        with pytest.raises(ValueError, match="lease_s"):
            q.claim_job(session=s, worker="w", lease_s=0)
        with pytest.raises(ValueError, match="worker name"):
            q.claim_job(session=s, worker="", lease_s=5)


def test_failed_job_keeps_its_reason_and_the_queue_goes_on(any_ws):
    ws = any_ws
    first, second = _enqueue(ws, 2)
    job = _claim(ws, "w1")
    with ws.sessions.begin() as s:
        assert q.fail_job(session=s, job_id=job.id, worker="w1", error="  ValueError: bad  ")
    nxt = _claim(ws, "w1")
    assert (job.id, nxt.id) == (first, second)
    with ws.session() as s:
        view = q.get_job(session=s, job_id=first, scope=BrandScope.ALL)
    assert (view.status, view.error) == (JobStatus.FAILED, "ValueError: bad")


def test_expired_lease_is_claimed_again_and_resumed_until_max_attempts(any_ws):
    ws = any_ws
    (job_id,) = _enqueue(ws, 1)
    t0 = utcnow()
    assert _claim(ws, "dead-1", lease_s=30, now=t0).attempts == 1
    assert _claim(ws, "w2", now=t0 + timedelta(seconds=29)) is None
    again = _claim(ws, "dead-2", lease_s=30, now=t0 + timedelta(seconds=31))
    assert (again.id, again.attempts, again.resumed) == (job_id, 2, True)
    with ws.sessions.begin() as s:  # the first worker lost it: it changes nothing
        assert not q.renew_lease(session=s, job_id=job_id, worker="dead-1", lease_s=30)
        assert not q.finish_job(session=s, job_id=job_id, worker="dead-1", result={})
        assert not q.release_job(session=s, job_id=job_id, worker="dead-1")
    third = _claim(ws, "dead-3", lease_s=30, now=t0 + timedelta(seconds=62))
    assert third.attempts == 3
    assert _claim(ws, "w4", max_attempts=3, now=t0 + timedelta(seconds=93)) is None
    with ws.session() as s:
        view = q.get_job(session=s, job_id=job_id, scope=BrandScope.ALL)
    assert view.status is JobStatus.FAILED and view.attempts == 3
    assert "gave up after 3 attempts" in view.error and "dead-3" in view.error


def test_released_job_is_queued_again_without_counting_the_attempt(any_ws):
    ws = any_ws
    (job_id,) = _enqueue(ws, 1)
    job = _claim(ws, "w1")
    with ws.sessions.begin() as s:
        q.renew_lease(session=s, job_id=job.id, worker="w1", lease_s=30, progress=(2, 5, "a"))
        assert q.release_job(session=s, job_id=job.id, worker="w1")
    with ws.session() as s:
        view = q.get_job(session=s, job_id=job_id, scope=BrandScope.ALL)
    assert (view.status, view.attempts, view.claimed_by, view.done) == (
        JobStatus.QUEUED, 0, None, 2)
    assert _claim(ws, "w2").attempts == 1


def test_job_assets_keeps_pending_ones_on_resume(ws):
    with ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        assets = [Asset(brand_id=brand.id, kind=AssetKind.IMAGE, source_uri=f"f{i}",
                        sha256=f"{i:064x}", media_path=f"x/{i}", status=st)
                  for i, st in enumerate((AssetStatus.PENDING, AssetStatus.ANALYZED,
                                          AssetStatus.PENDING))]
        s.add_all(assets)
        s.flush()
        ids = [a.id for a in assets]
    gone = max(ids) + 10
    with ws.session() as s:
        assert q.job_assets(session=s, asset_ids=[*ids, gone], pending_only=False) == (
            ids, [gone])
        assert q.job_assets(session=s, asset_ids=[ids[2], ids[1], ids[0]],
                            pending_only=True) == ([ids[0], ids[2]], [])


def test_live_workers_by_heartbeat(any_ws):
    ws = any_ws
    now = utcnow()
    with ws.sessions.begin() as s:
        q.register_worker(session=s, name="a", host="h", pid=11, engine="local", now=now)
        q.register_worker(session=s, name="b", host="h", pid=12, now=now)
        q.register_worker(session=s, name="c", host="h", pid=13, now=now)
        q.worker_heartbeat(session=s, name="a", job_id=7, now=now + timedelta(seconds=50))
        q.worker_stopped(session=s, name="c", now=now + timedelta(seconds=50))
    with ws.session() as s:
        live = q.live_workers(session=s, within_s=30, now=now + timedelta(seconds=60))
        assert [(w.name, w.job_id, w.pid, w.engine) for w in live] == [("a", 7, 11, "local")]
        assert {w.name for w in q.live_workers(session=s, within_s=120,
                                               now=now + timedelta(seconds=60))} == {"a", "b"}


def _drain_threads(ws: Workspace, n_threads: int, tag: str) -> Counter:
    """``n_threads`` threads claim and finish jobs until none is claimable; each claim is
    counted (job id → times claimed)."""
    claims: Counter = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)
    deadline = time.monotonic() + 120

    def run(k: int) -> None:
        name = f"{tag}-{k}"
        try:
            start.wait(timeout=60)
            while time.monotonic() < deadline:
                job = _claim(ws, name)
                if job is None:
                    with ws.session() as s:
                        if not q.claimable_exists(session=s):
                            return
                    continue
                with lock:
                    claims[job.id] += 1
                with ws.sessions.begin() as s:
                    assert q.finish_job(session=s, job_id=job.id, worker=name, result={"k": k})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors
    return claims


@pytest.mark.slow
def test_threads_claim_each_job_exactly_once(any_ws):
    ws = any_ws
    for rnd in range(3):  # repeated: a race shows up as a job claimed twice or never
        ids = _enqueue(ws, 40)
        claims = _drain_threads(ws, 6, f"r{rnd}")
        assert set(claims) == set(ids) and set(claims.values()) == {1}, claims
    with ws.session() as s:
        statuses = Counter(s.scalars(select(Job.status)).all())
    assert statuses == {JobStatus.DONE: 120}


CLAIMER = """
import json, os, sys, time
from pathlib import Path
from db.queries import jobs as q
from db.session import make_engine, session_factory

url, name, gate = sys.argv[1], sys.argv[2], Path(sys.argv[3])
sessions = session_factory(make_engine(url))
Path(gate.parent / f"ready-{name}").touch()
deadline = time.monotonic() + 60
while not gate.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
got = []
while True:
    with sessions.begin() as s:
        job = q.claim_job(session=s, worker=name, lease_s=60)
    if job is None:
        with sessions() as s:
            if not q.claimable_exists(session=s):
                break
        continue
    got.append(job.id)
    with sessions.begin() as s:
        q.finish_job(session=s, job_id=job.id, worker=name, result={})
print(json.dumps(got))
"""


@pytest.mark.slow
def test_processes_claim_each_job_exactly_once(any_ws, tmp_path: Path):
    ws = any_ws
    ids = _enqueue(ws, 120)
    gate = tmp_path / "gate" / "go"
    gate.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, ws.config.database_url,
                               f"p{k}", str(gate)], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for k in range(4)]
    deadline = time.monotonic() + 120
    while len(list(gate.parent.glob("ready-*"))) < len(procs):
        assert time.monotonic() < deadline, "claimer processes did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.05)
    gate.touch()  # all claim at once
    got = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-2000:]
        got.append(json.loads(out))
    flat = [i for g in got for i in g]
    assert sorted(flat) == ids  # every job once, none twice
    assert sum(1 for g in got if g) >= 2, [len(g) for g in got]  # they did compete
