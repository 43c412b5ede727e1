"""``brandmood worker``: jobs run off the request path, progress in the job's row, a clean stop
gives the job back, and a worker killed mid-analysis leaves its job to another worker that
finishes it with every asset analyzed exactly once (real models, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.core.access import BrandScope
from brandmood.services.jobs import enqueue_analysis, enqueue_reanalysis
from brandmood.services.worker import JobInterrupted, Worker, WorkerOptions, describe
from db.models import (
    Asset,
    AssetAnalysis,
    AssetKind,
    AssetStatus,
    Face,
    JobKind,
    JobStatus,
    JobWorker,
    utcnow,
)
from db.queries import jobs as q
from db.queries.core import get_or_create_brand
from db.workspace import Workspace
from tests.brandmood.test_analyze_job import add_assets
from tests.conftest import REPO, media_file

EXE = Path(sys.executable).parent / "brandmood"


def _enqueue(ws: Workspace, n: int) -> list[int]:
    with ws.sessions.begin() as s:
        return [q.enqueue_job(session=s, kind=JobKind.ANALYZE, arguments={"n": i})
                for i in range(n)]


def _job(ws: Workspace, job_id: int) -> q.JobView:
    with ws.session() as s:
        return q.get_job(session=s, job_id=job_id, scope=BrandScope.ALL)


def _until(check, what: str, timeout: float = 240.0, every: float = 0.1):
    """Poll ``check()`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def test_progress_reaches_the_job_row_while_it_runs(ws):
    (job_id,) = _enqueue(ws, 1)
    during: list[q.JobView] = []

    def runner(ws_, job, progress, engine):
        assert engine is None and job.id == job_id
        progress(1, 3, "first asset")
        # the reporter thread writes while the job still runs
        during.append(_until(lambda: (v := _job(ws, job_id)).done == 1 and v, "progress"))
        progress(3, 3, "last asset")
        return {"analyzed": 3}

    events: list[str] = []
    w = Worker(ws, WorkerOptions(progress_s=0.05), runner=runner, on_event=events.append)
    (outcome,) = w.run(once=True)
    assert (outcome.status, outcome.result) == ("done", {"analyzed": 3})
    assert (during[0].status, during[0].message, during[0].claimed_by) == (
        JobStatus.RUNNING, "first asset", w.name)
    final = _job(ws, job_id)
    assert (final.status, final.done, final.total, final.message, final.result) == (
        JobStatus.DONE, 3, 3, "last asset", {"analyzed": 3})
    assert events[0].startswith(f"worker {w.name} started")
    assert f"job {job_id} (analyze) done: 3 analyzed" in events[-2]
    with ws.session() as s:
        row = s.get(JobWorker, w.name)
        assert row.stopped_at is not None and row.pid == os.getpid()


def test_a_failing_job_keeps_its_error_and_the_worker_goes_on(ws):
    first, second = _enqueue(ws, 2)

    def runner(ws_, job, progress, engine):
        if job.arguments["n"] == 0:
            raise RuntimeError("boom")
        return {}

    outcomes = Worker(ws, runner=runner).run(once=True)
    assert [(o.job_id, o.status) for o in outcomes] == [(first, "failed"), (second, "done")]
    assert _job(ws, first).error == "RuntimeError: boom"
    assert describe(outcomes[0]) == f"job {first} (analyze) failed: RuntimeError: boom"


def test_sigterm_during_a_job_gives_it_back_and_stops(ws):
    first, second = _enqueue(ws, 2)
    reached = []

    def runner(ws_, job, progress, engine):
        progress(1, 4, "one")
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises in this thread
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.01)
        reached.append("not interrupted")
        return {}

    w = Worker(ws, WorkerOptions(progress_s=0.05), runner=runner)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        w.install_signal_handlers()
        outcomes = w.run()  # not --once: only the signal ends it
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert not reached
    assert [(o.job_id, o.status) for o in outcomes] == [(first, "released")]
    back = _job(ws, first)
    assert (back.status, back.attempts, back.claimed_by, back.done) == (
        JobStatus.QUEUED, 0, None, 1)
    assert _job(ws, second).status is JobStatus.QUEUED  # stopped: claimed nothing more
    with ws.session() as s:
        assert s.get(JobWorker, w.name).stopped_at is not None


def test_interrupt_outside_a_job_only_stops(ws):
    w = Worker(ws)
    w.interrupt("test")  # idle: nothing to raise into
    assert w.stopping and w.run() == []
    with pytest.raises(JobInterrupted):
        w._busy = True
        w.interrupt("test")


IDLE_WORKER = """
import sys
from typer.testing import CliRunner
from brandmood.cli import app
res = CliRunner().invoke(app, ["worker", "--once"])
print(res.exit_code, "torch" in sys.modules, "brandmood.services.analyze" in sys.modules)
"""


def test_an_idle_worker_loads_no_model(ws_env):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", IDLE_WORKER], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["0", "False", "False"], out.stderr[-2000:]


def test_cli_worker_once_analyzes_queued_jobs_with_real_models(ws_env, tmp_path):
    from db.workspace import open_workspace

    ws = open_workspace()
    try:
        ids = add_assets(ws, tmp_path)  # 3 photos, a corrupt JPEG, a video
        with ws.sessions.begin() as s:
            upload = enqueue_analysis(session=s, kind=JobKind.UPLOAD,
                                      asset_ids=list(ids.values()), enqueued_by="test")
        res = CliRunner().invoke(app, ["worker", "--once", "--lease-s", "30"])
        assert res.exit_code == 0, res.output
        job = _job(ws, upload)
        with ws.session() as s:
            faces = s.scalar(select(func.count(Face.id)))
            per_asset = dict(s.execute(select(AssetAnalysis.asset_id, AssetAnalysis.n_faces))
                             .all())
        assert job.status is JobStatus.DONE and job.attempts == 1
        assert (job.done, job.total) == (5, 5)
        r = job.result
        assert (r["analyzed"], r["failed"], r["faces"]) == (4, 1, faces)
        assert sorted(r["asset_ids"]) == sorted(ids.values()) and r["resumed"] is False
        assert r["failures"][0]["asset_id"] == ids["corrupt.jpg"]
        assert sum(per_asset.values()) == faces and faces >= 6
        assert f"job {upload} (upload) done: 4 analyzed, 1 failed, {faces} faces" in res.output
        # retrying the failed asset is a re-analysis job: queued with the asset reset
        with ws.sessions.begin() as s:
            retry, reset = enqueue_reanalysis(session=s, asset_ids=list(ids.values()),
                                               scope=BrandScope.ALL)
        assert reset == [ids["corrupt.jpg"]]
        with ws.session() as s:
            assert s.get(Asset, ids["corrupt.jpg"]).status is AssetStatus.PENDING
        res = CliRunner().invoke(app, ["worker", "--once"])
        assert res.exit_code == 0, res.output
        again = _job(ws, retry)  # the job ran; the corrupt file failed again, with its reason
        assert (again.kind, again.status, again.result["failed"]) == (
            JobKind.REANALYZE, JobStatus.DONE, 1)
        assert "truncated" in again.result["failures"][0]["reason"]
    finally:
        ws.close()


def test_concurrency_runs_several_worker_processes(ws_env):
    out = subprocess.run([str(EXE), "worker", "--once", "--concurrency", "2"], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("started") == 2 and out.stdout.count("stopped after 0") == 2
    from db.workspace import open_workspace

    ws = open_workspace()
    try:
        with ws.session() as s:
            rows = s.scalars(select(JobWorker)).all()
    finally:
        ws.close()
    assert len({r.pid for r in rows}) == 2 and all(r.stopped_at for r in rows)


KILL_FILES = ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "single_face.jpg", "single_face.mp4",
              "no_face.mp4", "face_noface.mov", "noface_face.mov")
# Distinct copies of one photo (bytes appended after the JPEG end marker change the content
# hash, not the pixels) make the job several engine batches long, so that the worker is
# still busy when the test sees the first batch written and kills it, however fast the
# model or busy the machine.
KILL_COPIES = 24


def _store(ws: Workspace) -> list[int]:
    ids = []
    photo = media_file("single_face.jpg").read_bytes()
    copies = [(f"copy-{i}.jpg", ws.media.put_bytes(photo + f"copy {i}".encode(), suffix=".jpg"))
              for i in range(KILL_COPIES)]
    with ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        stored = [(name, ws.media.put_file(media_file(name))) for name in KILL_FILES]
        for name, media in copies + stored:
            asset = Asset(brand_id=brand.id, source_uri=name, sha256=media.sha256,
                          media_path=media.relpath, kind=AssetKind.IMAGE
                          if name.endswith(".jpg") else AssetKind.VIDEO)
            s.add(asset)
            s.flush()
            ids.append(asset.id)
    return ids


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_worker_killed_mid_job_is_finished_by_another(any_ws):
    ws = any_ws
    ids = _store(ws)
    with ws.sessions.begin() as s:
        job_id = enqueue_analysis(session=s, kind=JobKind.UPLOAD, asset_ids=ids)
    env = {**os.environ, "PYTHONPATH": str(REPO), "BRANDMOOD_HOME": str(ws.config.home),
           "BRANDMOOD_DATABASE_URL": ws.config.database_url, "BRANDMOOD_THREADS": "1"}
    first = subprocess.Popen([str(EXE), "worker", "--lease-s", "2"], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def partly_done():
            assert first.poll() is None, first.communicate()[0][-3000:]
            with ws.session() as s:
                n = s.scalar(select(func.count(AssetAnalysis.id)))
            return n >= 3
        _until(partly_done, "the first worker to analyze some assets")
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    with ws.session() as s:
        before = dict(s.execute(select(AssetAnalysis.asset_id, AssetAnalysis.id)).all())
    held = _job(ws, job_id)
    assert held.status is JobStatus.RUNNING and len(before) < len(ids), \
        "the job ended before the kill: nothing to resume"
    _until(lambda: utcnow() > held.lease_until, "the dead worker's lease to expire", every=0.2)
    second = subprocess.run([str(EXE), "worker", "--once"], cwd=REPO, env=env, text=True,
                            capture_output=True, timeout=600, check=False)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    done = _job(ws, job_id)
    assert (done.status, done.attempts) == (JobStatus.DONE, 2)
    assert done.result["resumed"] is True
    # the second worker analyzed exactly what the first had left
    assert sorted(done.result["asset_ids"]) == sorted(set(ids) - set(before))
    with ws.session() as s:
        rows = s.scalars(select(AssetAnalysis)).all()
        faces = dict(s.execute(select(Face.asset_id, func.count(Face.id))
                               .group_by(Face.asset_id)).all())
        statuses = set(s.scalars(select(Asset.status)).all())
    assert sorted(r.asset_id for r in rows) == sorted(ids)  # exactly one result per asset
    assert len({r.run_id for r in rows}) == 1  # all in the one run
    assert {r.asset_id: r.id for r in rows if r.asset_id in before} == before  # kept, not redone
    assert {r.asset_id: r.n_faces for r in rows if r.n_faces} == faces  # no face twice
    assert AssetStatus.PENDING not in statuses
    assert faces[ids[KILL_COPIES + KILL_FILES.index("single_face.mp4")]] == 3
    assert {faces[i] for i in ids[:KILL_COPIES]} == {1}  # each copy: the one face
    print(json.dumps({"killed_after": len(before), "assets": len(ids)}))
