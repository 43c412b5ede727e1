"""The Ray engine on a private local Ray (2 CPUs), real models, real photos, PostgreSQL,
media only in an S3 bucket (a real S3 server on 127.0.0.1): the same faces and labels as
the local runner, exactly-once results after a worker is killed mid-job, and a private
Ray that listens on 127.0.0.1 only and wants its token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from brandmood.services.analyze import run_analysis
from db.models import Asset, AssetAnalysis, AssetKind, AssetStatus, Face, Frame
from db.queries.core import get_or_create_brand
from db.workspace import Workspace
from tests.conftest import media_file

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(900)]

PHOTOS = ("single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg",
          "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")
TIMEOUT_S = 600


def add_assets(ws: Workspace, names: tuple[str, ...], brand: str = "Acme") -> dict[str, int]:
    """Real files as pending assets of ``brand``; returns name -> id."""
    ids = {}
    with ws.sessions.begin() as session:
        b = get_or_create_brand(session, name=brand)
        for name in names:
            stored = ws.media.put_file(media_file(name))
            asset = Asset(brand_id=b.id, source_uri=name, sha256=stored.sha256,
                          media_path=stored.relpath,
                          kind=AssetKind.VIDEO if name.endswith(".mp4") else AssetKind.IMAGE)
            session.add(asset)
            session.flush()
            ids[name] = asset.id
    return ids


def stored_faces(ws: Workspace, run_id: int) -> dict[int, list[tuple]]:
    """Per asset: each face's frame time, box, label, flag and probabilities, in order."""
    with ws.session() as s:
        rows = s.execute(select(Face, Frame.timestamp_ms).join(Frame, Frame.id == Face.frame_id)
                         .where(Face.run_id == run_id)
                         .order_by(Face.asset_id, Frame.timestamp_ms, Face.x1, Face.y1)).all()
    out: dict[int, list[tuple]] = {}
    for face, ts in rows:
        out.setdefault(face.asset_id, []).append(
            (ts, (face.x1, face.y1, face.x2, face.y2), face.dominant, face.uncertain,
             face.confidence, tuple(face.probs()), face.track_id))
    return out


def assert_same_faces(a: dict[int, list[tuple]], b: dict[int, list[tuple]]) -> None:
    assert a.keys() == b.keys()
    for asset_id, faces in a.items():
        other = b[asset_id]
        assert len(faces) == len(other), asset_id
        for f, g in zip(faces, other, strict=True):
            assert (f[0], f[2], f[3], f[6]) == (g[0], g[2], g[3], g[6])  # time, label, flag
            assert f[1] == pytest.approx(g[1], abs=1e-3)
            assert (f[4] is None) == (g[4] is None)
            if f[4] is not None:
                assert f[4] == pytest.approx(g[4], abs=1e-5)
            for p, q in zip(f[5], g[5], strict=True):
                assert (p is None) == (q is None) and (p is None or p == pytest.approx(q, abs=1e-5))


@pytest.fixture
def pg_ws(tmp_path, pg_url, s3_env):
    """A PostgreSQL workspace whose media live only in a bucket."""
    from brandmood.core.settings import load_config
    from db.object_store import ObjectMediaStore
    from db.workspace import open_workspace

    ws = open_workspace(load_config({**os.environ, **s3_env, "BRANDMOOD_DATABASE_URL": pg_url,
                                     "BRANDMOOD_HOME": str(tmp_path / "ws")}))
    assert isinstance(ws.media, ObjectMediaStore)
    yield ws
    assert not (tmp_path / "ws" / "media").exists()  # nothing stored locally
    ws.close()


def test_ray_job_gives_the_local_runners_faces_even_when_a_worker_is_killed(pg_ws,
                                                                            ray_cluster):
    """The same assets (photos, a video, one photo shared by two brands) analyzed by the
    local runner, then by Ray while one actor process is killed after the first stored
    asset: every asset once in the Ray run, with exactly the local run's faces."""
    from brandmood.services.engines.ray_engine import RayEngine

    ws = pg_ws
    ids = add_assets(ws, (*PHOTOS, "single_face.mp4"))
    ids["shared"] = add_assets(ws, ("single_face.jpg",), brand="Other")["single_face.jpg"]
    local = run_analysis(ws)
    assert (local.analyzed, local.failed) == (len(ids), 0)
    engine = RayEngine(actors=2, batch_size=1)
    killed: list[int] = []

    def progress(done: int, total: int, message: str) -> None:
        if not killed:  # after the first stored asset: the others are still in flight
            killed.append(engine.worker_pids[0])
            os.kill(killed[0], signal.SIGKILL)

    on_ray = run_analysis(ws, engine=engine, new_run=True, progress=progress)
    assert on_ray.run_id != local.run_id and len(killed) == 1
    assert os.getpid() not in engine.worker_pids
    with ws.session() as s:
        outcomes = s.execute(select(AssetAnalysis.asset_id, AssetAnalysis.status,
                                    AssetAnalysis.n_faces)
                             .where(AssetAnalysis.run_id == on_ray.run_id)).all()
    assert sorted(a for a, _, _ in outcomes) == sorted(ids.values())  # each exactly once
    assert {st for _, st, _ in outcomes} == {AssetStatus.ANALYZED}
    faces_local, faces_ray = stored_faces(ws, local.run_id), stored_faces(ws, on_ray.run_id)
    assert {a: len(f) for a, f in faces_ray.items()} == {a: n for a, _, n in outcomes if n}
    assert faces_local[ids["multi_face.jpg"]], "the photos have faces"
    assert len(faces_local[ids["single_face.mp4"]]) == 3  # one face in 3 sampled frames
    assert faces_ray[ids["shared"]] == faces_ray[ids["single_face.jpg"]]
    assert_same_faces(faces_local, faces_ray)


def _ray_processes() -> set[int]:
    """Pids of this session's Ray processes (children of this test process)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        pid, ppid = (int(x) for x in line.split())
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def test_private_ray_listens_on_loopback_only_and_wants_its_token(ray_cluster, tmp_path):
    import ray

    ray.get(ray.remote(num_cpus=0.5)(lambda: 1).remote(), timeout=TIMEOUT_S)  # a worker
    mine = _ray_processes()
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    listening = []
    for line in out.splitlines():
        pids = {int(p.split("=")[1]) for p in line.split("users:")[-1].split(",")
                if p.startswith("pid=")} if "users:" in line else set()
        if pids & (mine | {os.getpid()}):
            listening.append(line.split()[3])
    assert len(listening) >= 4, out  # GCS, raylet, object manager, workers
    assert ray.cluster_resources()["object_store_memory"] == 256 * 2**20  # bounded
    for address in listening:
        host = address.rsplit(":", 1)[0]
        assert host in {"127.0.0.1", "[::ffff:127.0.0.1]"}, address
    # no dashboard: Ray's head keeps a minimal dashboard process for its own bookkeeping,
    # but without the web front end
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in mine
                if Path(f"/proc/{pid}/cmdline").exists()]
    heads = [c for c in commands if any(a.endswith(b"dashboard/dashboard.py") for a in c)]
    assert commands and all(b"--disable-frontend" in c and b"--minimal" in c for c in heads)
    # a client with the wrong token is refused; with the right one it gets in
    probe = ("import ray\n"
             f"ray.init(address={ray_cluster.address!r}, configure_logging=False)\n"
             "print('connected', ray.cluster_resources()['CPU'])\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="token", HOME=str(tmp_path),
               RAY_NUM_REDIS_GET_RETRIES="3")  # a refused client gives up after 3 tries
    wrong = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           env={**env, "RAY_AUTH_TOKEN": "wrong-token"}, timeout=120,
                           check=False)
    assert wrong.returncode != 0 and "connected" not in wrong.stdout
    assert "InvalidAuthToken" in wrong.stderr, wrong.stderr[-2000:]
    right = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           env={**env, "RAY_AUTH_TOKEN": os.environ["RAY_AUTH_TOKEN"]},
                           timeout=120, check=False)
    assert right.returncode == 0 and "connected 2.0" in right.stdout, right.stderr[-2000:]
