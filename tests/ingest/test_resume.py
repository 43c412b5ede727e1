"""Kill -9 mid-run and resume; two ingest jobs at once on one SQLite workspace."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from db.models import Asset, AssetPost, Outcome, RunStatus
from db.queries import ingest as q
from db.workspace import open_workspace
from ingest.jobs import JobOptions, run_source
from ingest.manifest import ManifestSource
from tests.ingest.conftest import jpeg_bytes

REPO = Path(__file__).resolve().parents[2]
N = 30

CHILD = """
import sys
from pathlib import Path
from db.workspace import open_workspace
from ingest.jobs import JobOptions, run_source
from ingest.manifest import ManifestSource
ws = open_workspace()
run_source(ws, ManifestSource(Path(sys.argv[1])), brand="Acme", opts=JobOptions(workers=2))
"""


def _manifest(server, tmp_path: Path, n: int, name: str = "m.csv", offset: int = 0) -> Path:
    path = tmp_path / name
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["url", "caption"])
        for i in range(offset, offset + n):
            w.writerow([server.serve_file(f"/img/{i}.jpg", jpeg_bytes(1000 + i)), f"post {i}"])
    return path


def _assets(ws) -> int:
    with ws.session() as s:
        return s.scalar(select(func.count(Asset.id)))


def _files(ws) -> set[str]:
    root = ws.media.root
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and ".tmp" not in p.relative_to(root).parts}


def test_kill_9_mid_run_then_resume(ws, server, tmp_path: Path) -> None:
    manifest = _manifest(server, tmp_path, N)
    server.latency_s = 0.1
    env = {**os.environ, "BRANDMOOD_HOME": str(ws.config.home),
           "BRANDMOOD_ALLOW_HOSTS": "127.0.0.1", "PYTHONPATH": str(REPO)}
    env.pop("BRANDMOOD_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(manifest)], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 60
        while _assets(ws) < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the child finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = _assets(ws)
    assert 5 <= before < N
    assert list((ws.media.root / ".tmp").glob("job-*"))  # the killed job left its scratch

    server.latency_s = 0.0
    os.environ["BRANDMOOD_ALLOW_HOSTS"] = "127.0.0.1"
    try:
        summary = run_source(ws, ManifestSource(manifest), brand="Acme")
    finally:
        del os.environ["BRANDMOOD_ALLOW_HOSTS"]
    assert len(summary.items) == N and summary.failed == 0
    assert summary.stored == N - before and summary.duplicate == before
    with ws.session() as s:
        assert s.scalar(select(func.count(Asset.id))) == N
        assert s.scalar(select(func.count(func.distinct(Asset.sha256)))) == N
        assert s.scalar(select(func.count(AssetPost.id))) == N
        assert s.scalar(select(func.count(func.distinct(AssetPost.source_uri)))) == N
        paths = set(s.scalars(select(Asset.media_path)))
        counts = q.run_counts(s, run_id=summary.run_id)
    assert counts[Outcome.STORED] + counts[Outcome.DUPLICATE] == N
    assert _files(ws) == paths  # no half file, no orphan
    assert not list((ws.media.root / ".tmp").glob("job-*"))  # stale scratch cleaned
    with ws.session() as s:  # the killed run is marked failed, the resumed one done
        assert [(r.id, r.status) for r in q.list_runs(s)] == [
            (summary.run_id, RunStatus.DONE), (summary.run_id - 1, RunStatus.FAILED)]
    for p in paths:
        assert ws.media.path(p).stat().st_size > 100


def test_two_jobs_at_once_on_one_sqlite_workspace(ws, server, fetcher, tmp_path: Path) -> None:
    shared = _manifest(server, tmp_path, 20, "a.csv")
    other = _manifest(server, tmp_path, 10, "b.csv", offset=15)  # 15..24: 5 overlap
    server.latency_s = 0.01
    results, errors = {}, []

    def job(name: str, manifest: Path, w) -> None:
        try:
            results[name] = run_source(w, ManifestSource(manifest), brand="Acme",
                                       opts=JobOptions(fetcher=fetcher, workers=4))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            w.close()

    # one engine per job, as two processes would have (Alembic is not thread-safe, so
    # the workspaces are opened here, already migrated)
    threads = [threading.Thread(target=job, args=(n, m, open_workspace(ws.config,
                                                                       migrate=False)))
               for n, m in (("a1", shared), ("a2", shared), ("b", other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [len(results[n].items) for n in ("a1", "a2", "b")] == [20, 20, 10]
    assert all(r.failed == 0 for r in results.values())
    assert sum(r.stored for r in results.values()) == 25
    with ws.session() as s:
        assert s.scalar(select(func.count(Asset.id))) == 25
        assert s.scalar(select(func.count(AssetPost.id))) == 25
        for r in results.values():
            counts = q.run_counts(s, run_id=r.run_id)
            assert counts == {Outcome.STORED: r.stored, Outcome.DUPLICATE: r.duplicate,
                              Outcome.FAILED: 0}
    assert _files(ws) == _paths(ws)


def _paths(ws) -> set[str]:
    with ws.session() as s:
        return set(s.scalars(select(Asset.media_path)))
