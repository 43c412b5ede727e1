"""Ingest throughput and memory: parallel downloads against a one-at-a-time loop.

A local server on 127.0.0.1 (its own process, so it does not share our GIL) answers
every request after 50 ms with a distinct small PNG. We ingest 1,000 media URLs from a
manifest with the default workers and again with one worker (same run, fresh
workspaces), and measure peak RSS of ingests of 1,000 and 5,000 URLs in subprocesses
(latency 0 there, to keep the run short; memory does not depend on it).

    python -m benchmarks.ingest --json artifacts/ingest.json
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing as mp
import os
import subprocess
import tempfile
import time
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.peer_common import ROOT, module_command, peak_rss_mb, write_json


@lru_cache(maxsize=8192)
def _png(i: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(i)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _serve(latency_s: float, port_q) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(latency_s)
            try:
                body = _png(int(self.path.rsplit("/", 1)[-1].split(".")[0]))
                self.send_response(200)
            except ValueError:
                body = b"not found"
                self.send_response(404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.request_queue_size = 128
    port_q.put(httpd.server_address[1])
    httpd.serve_forever()


def start_server(latency_s: float) -> tuple[mp.Process, str]:
    q = mp.Queue()
    proc = mp.Process(target=_serve, args=(latency_s, q), daemon=True)
    proc.start()
    return proc, f"http://127.0.0.1:{q.get(timeout=30)}"


def write_manifest(path: Path, base: str, n: int, offset: int = 0) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["url", "caption", "likes"])
        for i in range(offset, offset + n):
            w.writerow([f"{base}/img/{i}.png", f"post {i}", i % 500])
    return path


def ingest_once(base: str, n: int, workers: int, offset: int = 0) -> tuple[float, int]:
    """Seconds to ingest ``n`` URLs into a fresh workspace, and how many were stored."""
    from brandmood.core.settings import load_config
    from db.workspace import open_workspace
    from ingest.jobs import JobOptions, run_source
    from ingest.manifest import ManifestSource

    with tempfile.TemporaryDirectory(prefix="bm-bench-") as tmp:
        os.environ["BRANDMOOD_ALLOW_HOSTS"] = "127.0.0.1"  # what the ingest job's guard reads
        ws = open_workspace(load_config({**os.environ, "BRANDMOOD_HOME": str(Path(tmp) / "ws"),
                                         "BRANDMOOD_DATABASE_URL": ""}))
        manifest = write_manifest(Path(tmp) / "m.csv", base, n, offset)
        t0 = time.perf_counter()
        summary = run_source(ws, ManifestSource(manifest), brand="Bench",
                             opts=JobOptions(workers=workers))
        seconds = time.perf_counter() - t0
        ws.close()
    if summary.failed:
        reasons = {i.reason for i in summary.items if i.reason}
        raise SystemExit(f"{summary.failed} items failed: {sorted(reasons)[:3]}")
    return seconds, summary.stored


def child_peak_rss_mb(base: str, n: int) -> float:
    """Peak RSS (MB) of a subprocess that ingests ``n`` URLs."""
    out = subprocess.run(module_command("ingest", "--child", str(n), "--base", base),
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--n", type=int, default=1000, help="URLs in the throughput runs")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        from ingest.net import DEFAULT_WORKERS

        ingest_once(args.base, args.child, DEFAULT_WORKERS)
        print(json.dumps({"peak_rss_mb": peak_rss_mb()}))
        return 0
    from ingest.net import DEFAULT_WORKERS

    slow, slow_base = start_server(args.latency_ms / 1000)
    fast, fast_base = start_server(0.0)
    try:
        par_s, stored = ingest_once(slow_base, args.n, DEFAULT_WORKERS)
        seq_s, _ = ingest_once(slow_base, args.n, 1, offset=args.n)
        rss_1k = child_peak_rss_mb(fast_base, 1000)
        rss_5k = child_peak_rss_mb(fast_base, 5000)
    finally:
        slow.terminate()
        fast.terminate()
    result = {"items_per_s": round(args.n / par_s, 2),
              "sequential_items_per_s": round(args.n / seq_s, 2),
              "ratio": round(seq_s / par_s, 2),
              "peak_rss_mb_1000": round(rss_1k, 1), "peak_rss_mb_5000": round(rss_5k, 1),
              "n": args.n, "workers": DEFAULT_WORKERS, "latency_ms": args.latency_ms,
              "stored": stored, "target_ratio": 6.0}
    print(f"{'measure':<28}{'value':>12}")
    for key in ("items_per_s", "sequential_items_per_s", "ratio", "peak_rss_mb_1000",
                "peak_rss_mb_5000"):
        print(f"{key:<28}{result[key]:>12}")
    print(f"ratio target >= 6x: {'met' if result['ratio'] >= 6 else 'NOT met'}; "
          f"RSS growth 1k->5k: {rss_5k - rss_1k:+.1f} MB")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
