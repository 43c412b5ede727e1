"""Dashboard query speed on a synthetic workspace, against a naive pandas baseline.

Builds a workspace of ``--assets`` assets and ``--faces`` faces (default 200,000 and
1,000,000) in SQLite (bulk ``executemany``) or, with ``--database-url``, in PostgreSQL
(``COPY``), then times every page's queries (the ones the page runs on a cache miss) for
one brand, ``--reps`` times: p50 and p95 in ms. Pages read the rollups
(:mod:`db.queries.rollups`) where they serve; ``--no-rollups`` times the scan they replace.
The baseline, in the same run, loads the face and asset tables into pandas and computes
the same numbers there (what a page without SQL aggregation would do).

    python -m benchmarks.dashboard --faces 1000000 --json artifacts/dashboard.json
    python -m benchmarks.dashboard --faces 1000000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Output JSON: ``{"pages": {page: {"p50_ms", "p95_ms", "baseline_p95_ms"}}, "setup": {...}}``.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import text

from benchmarks.peer_common import write_json
from brandmood.core.access import BrandScope
from brandmood.core.settings import load_config
from brandmood.core.types import EMOTIONS
from brandmood.services.dashboard import page_data
from db.queries import dashboard as dq
from db.queries import dashboard_assets as da
from db.queries import dashboard_jobs as jq
from db.queries import review as rq
from db.queries.analysis import refresh_face_counts
from db.queries.rollups import refresh_rollups
from db.queries.selection import DashboardFilters
from db.workspace import open_workspace

N_BRANDS = 5
PROPOSED_INDEXES = (
    # = Index("ix_face_asset_run", "asset_id", "run_id", "dominant", "uncertain",
    #         "confidence", "ambassador_id", "ambassador_confirmed") on Face
    "CREATE INDEX IF NOT EXISTS ix_face_asset_run ON face (asset_id, run_id, dominant, "
    "uncertain, confidence, ambassador_id, ambassador_confirmed)",
    # = Index("ix_asset_brand_posted", "brand_id", "posted_at") on Asset
    "CREATE INDEX IF NOT EXISTS ix_asset_brand_posted ON asset (brand_id, posted_at)",
)
"""Indexes the dashboard queries need (proposed for db/models.py); created here if absent."""
START = datetime(2024, 1, 1)


class Writer:
    """Bulk inserts through the engine's DB-API connection: ``executemany`` on SQLite,
    ``COPY`` on PostgreSQL."""

    def __init__(self, engine) -> None:
        self.dialect = engine.dialect.name
        self.raw = engine.raw_connection()
        if self.dialect == "sqlite":
            self.raw.execute("PRAGMA synchronous=OFF")
        self.cur = self.raw.cursor()

    def executemany(self, sql: str, rows) -> None:
        head, cols = sql.split(" VALUES ")[0].split(" (", 1)
        table = head.split()[-1]
        cols = cols.rstrip(")")
        consts = [v.strip() for v in sql.split(" VALUES (", 1)[1].rstrip(")").split(",")]
        if self.dialect == "sqlite":
            self.cur.executemany(sql, rows)
            return
        with self.cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                it = iter(row)
                copy.write_row([next(it) if c == "?" else _const(c) for c in consts])

    def commit(self) -> None:
        self.raw.commit()
        if self.dialect == "postgresql":
            self.raw.autocommit = True
            self.cur.execute("ANALYZE")
        else:
            self.cur.execute("ANALYZE")
        self.raw.close()


def _const(sql: str):
    """A constant of an ``INSERT … VALUES`` list, as a Python value for ``COPY``."""
    if sql.startswith("'"):
        return sql.strip("'")
    return float(sql) if "." in sql else int(sql)


def build(engine, *, n_assets: int, n_faces: int, seed: int = 0) -> dict[str, float]:
    """Fill the (migrated, empty) database with synthetic rows; returns timings in seconds."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    con = cur = Writer(engine)
    now = "2025-01-01 00:00:00.000000"
    cur.executemany("INSERT INTO brand (id, name, created_at) VALUES (?, ?, ?)",
                    [(b, f"brand-{b}", now) for b in range(1, N_BRANDS + 1)])
    camps, chans, ambs = [], [], []
    for b in range(1, N_BRANDS + 1):
        camps += [((b - 1) * 4 + i + 1, b, f"campaign-{i}") for i in range(4)]
        chans += [((b - 1) * 3 + i + 1, b, p, f"{p}-{b}")
                  for i, p in enumerate(("instagram", "youtube", "tiktok"))]
        ambs += [((b - 1) * 5 + i + 1, b, f"amb-{i}", "[]") for i in range(5)]
    cur.executemany("INSERT INTO campaign (id, brand_id, name) VALUES (?, ?, ?)", camps)
    cur.executemany("INSERT INTO channel (id, brand_id, platform, handle) VALUES (?, ?, ?, ?)",
                    chans)
    cur.executemany("INSERT INTO ambassador (id, brand_id, name, handles) VALUES (?,?,?,?)",
                    ambs)
    cur.executemany(
        "INSERT INTO analysis_run (id, model_name, model_version, weights_sha256, detector, "
        "parameters, status, n_assets, n_faces, n_failed, timings, started_at, finished_at) "
        "VALUES (?, ?, ?, '', 'mtcnn', '{}', 'done', ?, ?, 0, '{}', ?, ?)",
        [(1, "fer-mini-xception", "1.0", n_assets, n_faces, now, now)])
    brand = rng.integers(1, N_BRANDS + 1, n_assets)
    days = rng.integers(0, 540, n_assets)
    likes = rng.poisson(200, n_assets)
    assets = []
    for i in range(n_assets):
        b = int(brand[i])
        posted = (START + timedelta(days=int(days[i]), seconds=int(i % 86400))).strftime(
            "%Y-%m-%d %H:%M:%S.000000")
        assets.append((
            i + 1, b, "image", f"file:{i}", (b - 1) * 3 + 1 + i % 3, (b - 1) * 4 + 1 + i % 4,
            (b - 1) * 5 + 1 + i % 5 if i % 3 else None, posted, int(likes[i]),
            int(likes[i]) // 10, int(likes[i]) // 20, int(likes[i]) * 10, f"{i:064x}",
            f"{i:064x}"[:2] + f"/{i:064x}.jpg", "analyzed", "{}", now))
    cur.executemany(
        "INSERT INTO asset (id, brand_id, kind, source_uri, channel_id, campaign_id, "
        "ambassador_id, posted_at, likes, comments, shares, views, sha256, media_path, status, "
        "extra, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", assets)
    cur.executemany("INSERT INTO frame (id, asset_id, timestamp_ms) VALUES (?, ?, 0)",
                    [(i, i) for i in range(1, n_assets + 1)])
    cur.executemany(
        "INSERT INTO asset_analysis (asset_id, run_id, status, n_frames, n_faces, summary, "
        "seconds) VALUES (?, 1, 'analyzed', 1, 0, '{}', 0.1)",
        [(i,) for i in range(1, n_assets + 1)])
    t_assets = time.perf_counter() - t0
    _faces(cur, rng, n_assets=n_assets, n_faces=n_faces)
    cur.executemany("INSERT INTO review (face_id, label, reviewer, created_at) VALUES "
                    "(?, ?, 'bench', ?)",
                    [(int(f), EMOTIONS[int(f) % 7].value, now)
                     for f in rng.choice(n_faces, 2000, replace=False) + 1])
    con.commit()
    return {"assets_s": t_assets, "total_s": time.perf_counter() - t0}


def _faces(cur, rng, *, n_assets: int, n_faces: int, chunk: int = 200_000) -> None:
    cols = ", ".join(f"p_{e.value}" for e in EMOTIONS)
    sql = (f"INSERT INTO face (frame_id, run_id, asset_id, x1, y1, x2, y2, det_score, {cols}, "
           "dominant, confidence, uncertain) VALUES (?, 1, ?, 10, 10, 60, 60, 0.99, "
           + ", ".join("?" * 8) + ", ?, ?, ?)")
    for start in range(0, n_faces, chunk):
        n = min(chunk, n_faces - start)
        asset = rng.integers(1, n_assets + 1, n)
        logits = rng.normal(0, 1.2, (n, 7)) + np.array([1.0, 1.2, 0, 0.2, -0.5, -0.3, -0.8])
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        top = p.argmax(1)
        conf = p.max(1)
        second = np.sort(p, 1)[:, -2]
        unc = (conf < 0.4) | (conf - second < 0.1)
        rows = [(int(a), int(a), *map(float, pr), None, EMOTIONS[int(t)].value, float(c),
                 bool(u)) for a, pr, t, c, u in zip(asset, p, top, conf, unc, strict=True)]
        cur.executemany(sql, rows)


def page_queries(session, brand_id: int, days: int, *,
                 rollups: bool = True) -> dict[str, Callable[[], object]]:
    """What each page queries on a cache miss (one brand; all time or the last ``days``).

    Overview and the group pages run one scan each (``brandmood.services.dashboard.page_data``) and
    derive their numbers from it in Python; that derivation is timed too.
    """
    end = (START + timedelta(days=539)).date()
    scope = BrandScope.ALL  # the local admin's (a brand member's adds nothing for one brand)
    f = DashboardFilters(brand_id=brand_id, date_from=end - timedelta(days=days - 1),
                         date_to=end, scope=scope) if days else DashboardFilters(
                             brand_id=brand_id, scope=scope)
    prev = f.previous_period()
    detail = session.scalar(text("SELECT coalesce(min(id), 1) FROM asset WHERE id >= 12345"))

    def common():
        dq.data_version(session=session)
        dq.model_versions(session=session, filters=f)
        dq.brand_options(session=session, brand_id=brand_id, scope=scope)

    def overview():
        data = page_data(session=session, filters=f, use_rollups=rollups)
        prev_kpis = prev and page_data(session=session, filters=prev,
                                       use_rollups=rollups).kpis()
        return common(), data.kpis(), prev_kpis, data.trend()

    def group(g):
        def run():
            data = page_data(session=session, filters=f, group=g, use_rollups=rollups)
            return common(), data.distribution(), data.trend(), data.engagement()
        return run

    return {
        "overview": overview,
        "campaigns": group(dq.GroupBy.CAMPAIGN),
        "channels": group(dq.GroupBy.CHANNEL),
        "ambassadors": group(dq.GroupBy.AMBASSADOR),
        "assets": lambda: (common(), da.gallery(session=session, filters=f, limit=24),
                           da.gallery(session=session, filters=f, labels=("sad",), limit=24),
                           da.asset_detail(session=session, asset_id=detail, scope=scope)),
        "review": lambda: (common(), rq.review_queue(session=session, filters=f,
                                                     reviewer="bench", limit=10),
                           rq.review_progress(session=session, scope=scope, reviewer="bench")),
        "jobs": lambda: (common(), jq.ingest_runs(session=session, scope=scope),
                         jq.analysis_runs(session=session, scope=scope),
                         jq.analysis_failures(session=session, scope=scope)),
    }


def baseline(engine, brand_id: int, days: int) -> dict[str, Callable[[], object]]:
    """The naive way: read whole tables into pandas on every page view, then aggregate."""
    import pandas as pd

    end = START + timedelta(days=540)
    lo = (end - timedelta(days=days)).strftime("%Y-%m-%d") if days else "0000"
    hi = end.strftime("%Y-%m-%d")

    def load():
        with engine.connect() as conn:
            faces = pd.read_sql("SELECT * FROM face", conn)
            assets = pd.read_sql("SELECT * FROM asset", conn)
            aa = pd.read_sql("SELECT asset_id, run_id, status FROM asset_analysis", conn)
        cur = aa[aa.status == "analyzed"].groupby("asset_id", as_index=False).run_id.max()
        df = faces.merge(cur, on=["asset_id", "run_id"]).merge(
            assets, left_on="asset_id", right_on="id", suffixes=("", "_a"))
        df = df[(df.brand_id == brand_id) & (df.posted_at >= lo) & (df.posted_at < hi)]
        df = df.assign(label=np.where(df.uncertain.astype(bool), "uncertain", df.dominant))
        return df

    def by(col):
        def run():
            df = load()
            df.groupby([col, "label"]).size()
            per = df.groupby(["asset_id", "label"]).size().reset_index(name="n")
            dom = per.sort_values("n").groupby("asset_id").tail(1).merge(
                df.drop_duplicates("asset_id")[["asset_id", "likes"]], on="asset_id")
            dom.groupby("label").likes.agg(["mean", "median", "count"])
        return run

    def overview():
        df = load()
        df.label.value_counts()
        df.asset_id.nunique()

    def gallery():
        df = load()
        df[df.label == "sad"].asset_id.unique()

    def review():
        load().sort_values(["uncertain", "confidence"], ascending=[False, True]).head(10)

    return {"overview": overview, "campaigns": by("campaign_id"), "channels": by("channel_id"),
            "ambassadors": by("ambassador_id"), "assets": gallery, "review": review,
            "jobs": overview}


def refresh_cost(ws, *, n_assets: int, samples: int = 50) -> dict[str, float]:
    """Milliseconds of one asset's rollup refresh (what each analysis write adds), p50/p95
    over ``samples`` assets, each in a transaction that is rolled back."""
    ids = np.random.default_rng(1).choice(np.arange(1, n_assets + 1), samples, replace=False)
    times = []
    for i in ids:
        with ws.session() as s:
            t = time.perf_counter()
            refresh_rollups(session=s, asset_ids=[int(i)])
            times.append((time.perf_counter() - t) * 1000)
            s.rollback()
    out = {"refresh_p50_ms": float(np.percentile(times, 50)),
           "refresh_p95_ms": float(np.percentile(times, 95))}
    print(f"rollup refresh of one asset: p50 {out['refresh_p50_ms']:.1f} ms, "
          f"p95 {out['refresh_p95_ms']:.1f} ms")
    return out


def timeit(fn: Callable[[], object], reps: int, cpu: list[float] | None = None) -> list[float]:
    """Wall milliseconds of ``reps`` calls (and this process's CPU milliseconds into
    ``cpu``: on SQLite all of a page's work, which a loaded machine does not inflate)."""
    out = []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - t) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - c) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--assets", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=20, help="timed runs per page")
    ap.add_argument("--baseline-reps", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--no-proposed-indexes", dest="proposed_indexes", action="store_false",
                    help="time the schema as it is, without the proposed indexes")
    ap.add_argument("--days", type=int, default=0,
                    help="filter the last N days (0: all time, the app's default view)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the workspace here; an existing one is reused, not rebuilt")
    ap.add_argument("--database-url", default="",
                    help="the database (e.g. postgresql+psycopg://…/bench; default: SQLite "
                         "in the workdir); a non-empty one is reused, not rebuilt")
    ap.add_argument("--no-rollups", dest="rollups", action="store_false",
                    help="time the pages' face scan instead of the rollups (the before)")
    args = ap.parse_args(argv)
    home = args.workdir or Path(tempfile.mkdtemp(prefix="bm-bench-"))
    cfg = load_config({**os.environ, "BRANDMOOD_HOME": str(home),
                       "BRANDMOOD_DATABASE_URL": args.database_url})
    t0 = time.perf_counter()
    ws = open_workspace(cfg)  # migrates (an older store gets its rollups built here)
    setup: dict[str, float] = {"open_and_migrate_s": time.perf_counter() - t0}
    with ws.session() as s:
        fresh = not s.scalar(text("SELECT count(*) FROM brand"))
    if fresh:
        setup.update(build(ws.engine, n_assets=args.assets, n_faces=args.faces))
        # the per-asset face counts and the rollups, as the analysis job writes them
        t0 = time.perf_counter()
        with ws.sessions.begin() as s:
            refresh_face_counts(session=s)
        setup["face_counts_and_rollups_s"] = time.perf_counter() - t0
    dialect = ws.engine.dialect.name
    if args.proposed_indexes and dialect == "sqlite":
        con = sqlite3.connect(home / "brandmood.db")
        for sql in PROPOSED_INDEXES:
            con.execute(sql)
        con.execute("ANALYZE")
        con.close()
    elif fresh:
        with ws.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    with ws.session() as s:
        n_faces = int(s.scalar(text("SELECT count(*) FROM face")))
        rollup_rows = {t: int(s.scalar(text(f"SELECT count(*) FROM {t} WHERE brand_id = 1")))
                       for t in ("rollup_faces", "rollup_assets", "rollup_engagement")}
    print(f"workspace {dialect} {home}: {n_faces:,} faces (built in "
          f"{setup.get('total_s', 0):.1f}s); brand 1 rollup rows {rollup_rows}; "
          f"{'rollups' if args.rollups else 'scan (--no-rollups)'}")
    results: dict[str, dict[str, float]] = {}
    base = baseline(ws.engine, 1, args.days)
    with ws.session() as s:
        for page, fn in page_queries(s, 1, args.days, rollups=args.rollups).items():
            fn()  # warm the page cache of SQLite once, as a running app would have it
            cpu: list[float] = []
            t = timeit(fn, args.reps, cpu)
            b = timeit(base[page], args.baseline_reps)
            results[page] = {"p50_ms": float(np.percentile(t, 50)),
                             "p95_ms": float(np.percentile(t, 95)),
                             "cpu_p50_ms": float(np.percentile(cpu, 50)),
                             "cpu_p95_ms": float(np.percentile(cpu, 95)),
                             "baseline_p95_ms": float(np.percentile(b, 95)) if b else math.nan}
            r = results[page]
            print(f"{page:12s} p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms  "
                  f"cpu p95 {r['cpu_p95_ms']:7.1f} ms  "
                  f"baseline p95 {r['baseline_p95_ms']:9.1f} ms  "
                  f"x{r['baseline_p95_ms'] / r['p95_ms']:.0f} faster")
    maintenance = refresh_cost(ws, n_assets=args.assets) if args.rollups else {}
    ws.close()
    write_json(args.json, {"pages": results, "maintenance": maintenance, "setup": {
        "assets": args.assets, "faces": n_faces, "brands": N_BRANDS, "dialect": dialect,
        "rollups": args.rollups, "rollup_rows_brand_1": rollup_rows,
        "reps": args.reps, "baseline_reps": args.baseline_reps, "days": args.days,
        "proposed_indexes": args.proposed_indexes, **setup}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
