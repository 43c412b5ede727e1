"""Scale: the same N real photos analyzed by the local runner and by Ray (1 and 2 actors),
with PostgreSQL and media in an S3 bucket, plus a fault run that kills a Ray worker.

    python -m benchmarks.scale --json artifacts/scale.json [--n 48] [--rounds 3]

Set-up (not timed): N social-size photos with 0–10 real faces each (``bench_media``), a
moto S3 server on 127.0.0.1 in its own process, a fresh PostgreSQL database, and one
ingest of the photos into the bucket. Then each configuration runs in a fresh child
process (its own interpreter: cold models, its own private Ray on 127.0.0.1 with 2 CPUs),
as a new analysis run over the same assets:

* ``local``: the default engine (threads of the process);
* ``ray1`` / ``ray2``: :class:`RayEngine` with 1 and 2 actors (0.5 CPU, 1 torch thread each);
* ``fault``: 2 actors, one item per call; the first actor to answer is killed (SIGKILL)
  right after the first stored asset.

Per configuration (one cold job; with ``--rounds`` the three engines take turns and the
medians are reported): throughput after the first quarter of the results and CPU
seconds per image over the same window, summed over every process of the engine
(:func:`_rates`; Ray's overhead is judged on CPU seconds, which a busy neighbour does not
skew as it skews wall time), the job's fixed start-up extrapolated from it (model loads:
in the process for the local runner, in each actor for Ray, every job; the Ray cluster's
own start is reported apart), end-to-end images/s of the whole job, stage seconds from the
run's timings (read, decode, detect, crop, classify, database write), and peak RSS of the
driver, the actors and Ray's own processes (sampled after each stored asset).
Faces are counted in the database per run; the fault run is checked there too: every
asset has exactly one outcome, all analyzed, and the same faces as the local run.

The machine may be shared: compare the ratios (Ray vs local, same run), not the seconds.
Exit code: 0 measured, 2 could not measure (no PostgreSQL, a child failed).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.peer_common import ROOT, fmt, module_command, print_table, vm_hwm_mb, write_json

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CONFIGS = ("local", "ray1", "ray2", "fault")
CHILD_TIMEOUT_S = 1800


# --- the S3 server in its own process (moto is pure Python: keep it off our GIL) ----------

def _serve_s3(q) -> None:
    from benchmarks.s3server import start_s3_server

    _server, endpoint = start_s3_server()
    q.put(endpoint)
    while True:
        time.sleep(3600)


def start_s3() -> tuple[mp.Process, str]:
    q = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_serve_s3, args=(q,), daemon=True)
    proc.start()
    return proc, q.get(timeout=120)


# --- the child: one configuration, one analysis run ---------------------------------------

def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()[:60] or "?"
    except OSError:
        return "?"


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


class _Sampler:
    """Peak RSS per process kind among this process's descendants (Ray's processes), and
    the CPU seconds this process and its descendants spent since :meth:`start`."""

    def __init__(self, actors: list[int]) -> None:
        self.actors = actors
        self.peaks: dict[str, float] = {}
        self._base: dict[int, float] = {}
        self._cpu: dict[int, float] = {}
        self.cpu_marks: list[float] = []

    def start(self) -> None:
        pids = [os.getpid(), *_descendants(os.getpid())]
        self._base = {pid: _cpu_s(pid) for pid in pids}

    def sample(self) -> None:
        """After each stored asset: memory peaks, and the CPU total so far."""
        pids = [os.getpid(), *_descendants(os.getpid())]
        for pid in pids[1:]:
            kind = "actor" if pid in self.actors else _name(pid).split("/")[-1].split()[0]
            self.peaks[kind] = max(self.peaks.get(kind, 0.0), vm_hwm_mb(pid))
        for pid in pids:  # a process that exits keeps its last reading
            used = _cpu_s(pid) - self._base.get(pid, 0.0)
            self._cpu[pid] = max(self._cpu.get(pid, 0.0), used)
        self.cpu_marks.append(sum(self._cpu.values()))


def child(config: str, out: Path) -> None:
    """Run one configuration (one cold job, a new run over every asset) on the workspace
    the environment names; write its JSON record."""
    from brandmood.core.settings import load_config
    from brandmood.services.analyze import run_analysis
    from brandmood.services.engines import LocalEngine
    from brandmood.services.engines.batch import IMAGE_BATCH
    from db.workspace import open_workspace

    ws = open_workspace(load_config())
    record: dict = {"config": config}
    engine, unit = LocalEngine(), IMAGE_BATCH
    if config != "local":
        from brandmood.services.engines.ray_engine import RayEngine

        engine = RayEngine(actors=1 if config == "ray1" else 2,
                           batch_size=1 if config == "fault" else 4)
        t = time.perf_counter()
        engine.connect()
        record["ray_start_s"] = time.perf_counter() - t
        unit = engine.batch_size * engine.actors
    sampler = _Sampler(getattr(engine, "worker_pids", []))
    stamps: list[float] = []
    killed: list[int] = []

    def progress(done: int, total: int, message: str) -> None:
        stamps.append(time.perf_counter())
        sampler.sample()
        if config == "fault" and not killed:
            killed.append(engine.worker_pids[0])
            os.kill(killed[0], signal.SIGKILL)

    sampler.start()
    t0 = time.perf_counter()
    summary = run_analysis(ws, engine=engine, new_run=True, progress=progress)
    record.update(_rates(t0, time.perf_counter(), stamps, unit, sampler.cpu_marks))
    record.update(run_id=summary.run_id, analyzed=summary.analyzed, failed=summary.failed,
                  timings=summary.timings, killed_workers=killed,
                  driver_peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  process_peak_mb=sampler.peaks)
    engine.close()
    ws.close()
    out.write_text(json.dumps(record))


def _rates(t0: float, t1: float, stamps: list[float], unit: int,
           cpu: list[float]) -> dict[str, float]:
    """Throughput after the first quarter of the results, from a result that closes a
    round of batches (``unit`` = items per batch × batches in parallel: results arrive a
    batch at a time, so counting from inside a batch would credit work done before), the
    job's fixed start-up extrapolated from it, and CPU seconds per image over the same
    window (all processes of the engine: robust where other work shares the machine)."""
    n = len(stamps)
    k = min(n - 1, unit * max(1, round(n / 4 / unit)))
    out = {"wall_s": t1 - t0, "end_to_end_images_per_s": n / (t1 - t0),
           "cpu_s": cpu[-1] if cpu else 0.0}
    if n < 2 or k < 1 or stamps[-1] <= stamps[k - 1]:
        return out
    rate = (n - k) / (t1 - stamps[k - 1])
    out.update(images_per_s=rate, per_job_fixed_s=(stamps[k - 1] - t0) - k / rate,
               first_result_s=stamps[0] - t0,
               cpu_s_per_image=(cpu[-1] - cpu[k - 1]) / (n - k),
               per_job_fixed_cpu_s=cpu[k - 1] - k * (cpu[-1] - cpu[k - 1]) / (n - k))
    return out


# --- the parent ------------------------------------------------------------------------------

def _database(admin_url: str):
    from sqlalchemy import text

    from db.session import make_engine

    name = f"bm_scale_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def _ingest(env: dict[str, str], folder: Path) -> tuple[list[int], dict]:
    """Ingest the photos into the bucket; returns the asset ids and read costs."""
    from brandmood.core.settings import load_config
    from db.workspace import open_workspace
    from ingest.base import SourceRequest
    from ingest.jobs import JobOptions, run_source
    from ingest.sources import build_source

    ws = open_workspace(load_config(env))
    summary = run_source(ws, build_source("files", SourceRequest((str(folder),))),
                         brand="Scale", opts=JobOptions())
    ids = [i.asset_id for i in summary.items if i.asset_id]
    from db.models import Asset

    with ws.session() as s:
        paths = [s.get(Asset, i).media_path for i in ids]
    t = time.perf_counter()
    size = sum(len(ws.media.read_bytes(p)) for p in paths)
    read_s = time.perf_counter() - t
    ws.close()
    return ids, {"s3_read_ms_per_image": 1000 * read_s / len(paths),
                 "s3_read_mb_per_s": size / 2**20 / read_s,
                 "mean_image_kb": size / 1024 / len(paths)}


def _median(records: list[dict]) -> dict:
    """One record from several rounds: the median of each number (per key in dicts)."""
    out = dict(records[0])
    for key, value in records[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in records if key in r)
        elif isinstance(value, dict):
            keys = {k for r in records for k in r.get(key, {})}
            out[key] = {k: statistics.median(r[key][k] for r in records if k in r.get(key, {}))
                        for k in keys}
    out["rounds"] = len(records)
    return out


def _check(env: dict[str, str], rounds: dict[str, list[dict]], asset_ids: list[int]) -> dict:
    """Faces stored per run (the same in every round, else each round's), and the fault
    run's exactly-once check, from the database."""
    from sqlalchemy import func, select

    from brandmood.core.settings import load_config
    from db.models import AssetAnalysis, AssetStatus, Face
    from db.workspace import open_workspace

    ws = open_workspace(load_config(env), migrate=False)
    faces: dict[str, int | list[int]] = {}
    per_asset: dict[str, dict[int, int]] = {}
    with ws.session() as s:
        for config, recs in rounds.items():
            counts = []
            for rec in recs:
                rows = dict(s.execute(select(Face.asset_id, func.count(Face.id))
                                      .where(Face.run_id == rec["run_id"])
                                      .group_by(Face.asset_id)).all())
                per_asset.setdefault(config, rows)
                counts.append(sum(rows.values()))
            faces[config] = counts[0] if len(set(counts)) == 1 else counts
        fault = rounds["fault"][0]
        outcomes = s.execute(select(AssetAnalysis.asset_id, AssetAnalysis.status,
                                    AssetAnalysis.n_faces)
                             .where(AssetAnalysis.run_id == fault["run_id"])).all()
    ws.close()
    once = (sorted(a for a, _, _ in outcomes) == sorted(asset_ids)
            and all(st is AssetStatus.ANALYZED for _, st, _ in outcomes)
            and per_asset["fault"] == {a: n for a, _, n in outcomes if n}
            and per_asset["fault"] == per_asset["local"])
    return {"faces": faces, "fault": {"killed_workers": len(fault["killed_workers"]),
                                      "assets": len(outcomes), "analyzed_exactly_once": once}}


def _stage_ms(rec: dict, n: int) -> dict[str, float]:
    t = rec["timings"]
    return {k.removesuffix("_s"): 1000 * float(t.get(k, 0.0)) / n
            for k in ("read_s", "decode_s", "detect_s", "crop_s", "classify_s", "write_s")}


def _run_child(config: str, env: dict[str, str], out: Path) -> dict | None:
    """One configuration in a fresh interpreter; its record, or None (error printed)."""
    proc = subprocess.run(module_command("scale", "--child", config, "--json", str(out)),
                          cwd=ROOT, env=env, timeout=CHILD_TIMEOUT_S, check=False,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not out.exists():
        print(f"error: the {config} run failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    record = json.loads(out.read_text())
    print(f"  {config}: {record['wall_s']:.1f} s for all assets")
    return record


def parent(args) -> int:
    from benchmarks.bench_media import build_photos
    from benchmarks.s3server import bucket_env

    try:
        db_url, drop = _database(args.pg_admin_url)
    except Exception as exc:
        print(f"error: no PostgreSQL at {args.pg_admin_url}: {exc}", file=sys.stderr)
        return 2
    s3, endpoint = start_s3()
    try:
        with tempfile.TemporaryDirectory(prefix="bm-scale-") as tmp:
            photos = build_photos(Path(tmp) / "photos", args.n, seed=args.seed)
            env = {**os.environ, **bucket_env(endpoint), "BRANDMOOD_HOME": str(Path(tmp) / "home"),
                   "BRANDMOOD_DATABASE_URL": db_url}
            asset_ids, reads = _ingest(env, Path(tmp) / "photos")
            print(f"{len(asset_ids)} photos ({sum(p.planted_faces for p in photos)} planted "
                  f"faces) in the bucket; PostgreSQL {db_url.rsplit('/', 1)[1]}")
            rounds: dict[str, list[dict]] = {c: [] for c in CONFIGS}
            plan = [*(c for _ in range(args.rounds) for c in CONFIGS[:-1]), "fault"]
            for i, config in enumerate(plan):  # interleaved: load changes hit all alike
                record = _run_child(config, env, Path(tmp) / f"{config}-{i}.json")
                if record is None:
                    return 2
                rounds[config].append(record)
            checked = _check(env, rounds, asset_ids)
            runs = {c: _median(recs) for c, recs in rounds.items()}
    finally:
        s3.terminate()
        drop()
    result = _result(args, runs, checked, reads, len(asset_ids))
    _print(result)
    write_json(args.json, result)
    return 0


def _result(args, runs: dict, checked: dict, reads: dict, n: int) -> dict:
    local, ray1, ray2 = runs["local"], runs["ray1"], runs["ray2"]
    return {
        "n_images": n, "cpus": os.cpu_count(),
        "local_images_per_s": local["images_per_s"],
        "ray_images_per_s": {"1": ray1["images_per_s"], "2": ray2["images_per_s"]},
        "end_to_end_images_per_s": {c: runs[c]["end_to_end_images_per_s"]
                                    for c in ("local", "ray1", "ray2")},
        "ray_overhead": 1 - ray2["images_per_s"] / local["images_per_s"],
        "cpu_s_per_image": {c: runs[c]["cpu_s_per_image"] for c in ("local", "ray1", "ray2")},
        "ray_cpu_overhead": {a: runs[c]["cpu_s_per_image"] / local["cpu_s_per_image"] - 1
                             for a, c in (("1", "ray1"), ("2", "ray2"))},
        "per_job_fixed_cpu_s": {c: runs[c]["per_job_fixed_cpu_s"]
                                for c in ("local", "ray1", "ray2")},
        "overhead_target": 0.15,
        "startup_s": {"local": local["per_job_fixed_s"], "ray_1": ray1["per_job_fixed_s"],
                      "ray_2": ray2["per_job_fixed_s"],
                      **{f"ray_cluster_{c}": r["ray_start_s"] for c, r in runs.items()
                         if "ray_start_s" in r}},
        "peak_rss_mb": {c: {"driver": r["driver_peak_mb"], **r["process_peak_mb"]}
                        for c, r in runs.items()},
        "stage_ms_per_image": {c: _stage_ms(r, n) for c, r in runs.items()},
        "faces_local": checked["faces"]["local"],
        "faces_ray": {"1": checked["faces"]["ray1"], "2": checked["faces"]["ray2"]},
        "faces_fault": checked["faces"]["fault"],
        "fault": checked["fault"],
        **reads,
        "runs": runs,
    }


def _print(r: dict) -> None:
    rows = []
    for config, label in (("local", "local"), ("ray1", "ray, 1 actor"),
                          ("ray2", "ray, 2 actors"), ("fault", "ray, 2 actors, 1 killed")):
        run = r["runs"][config]
        actor = r["peak_rss_mb"][config].get("actor", float("nan"))
        rows.append([label, fmt(run["wall_s"], 1), fmt(run.get("per_job_fixed_s"), 1),
                     fmt(run.get("images_per_s"), 2), fmt(run.get("end_to_end_images_per_s"), 2),
                     fmt(r["peak_rss_mb"][config]["driver"], 0), fmt(actor, 0)])
    print_table(["engine", f"wall s ({r['n_images']})", "per-job start s", "img/s",
                 "end-to-end img/s", "driver MB", "actor MB"], rows)
    cpu = r["cpu_s_per_image"]
    print(f"CPU s per image: local {cpu['local']:.2f}, ray 1 actor {cpu['ray1']:.2f}, "
          f"2 actors {cpu['ray2']:.2f}: Ray's CPU overhead {r['ray_cpu_overhead']['1']:+.0%} / "
          f"{r['ray_cpu_overhead']['2']:+.0%} (target within 15%); wall throughput: "
          f"{r['ray_overhead']:+.0%} (2 actors, shared machine)")
    print(f"faces local {r['faces_local']}, ray {r['faces_ray']}, fault run "
          f"{r['faces_fault']}: {r['fault']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=48, help="photos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of local, ray1, ray2 (interleaved; medians reported)")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN,
                        help="PostgreSQL URL of a database from which to create a fresh one")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.json)
        return 0
    return parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
