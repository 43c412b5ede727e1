"""Several analysts at once, in real browsers, against a freshly started ``brandmood serve``.

    python -m benchmarks.load --users 1 4 8 --json artifacts/load.json [--faces 1000000]

Builds (or reuses, ``--workdir``) the synthetic workspace of :mod:`benchmarks.dashboard`
(``--faces`` faces over ``--faces / 5`` assets, five brands), then for each user count
starts a fresh ``brandmood serve`` (``--no-worker``: the dashboard alone) on a free
loopback port and opens that many browser sessions at the same moment: one Chromium, one
context per user, its resolver mapping every host but 127.0.0.1 to nothing. Each user
loads the Overview (first load), then switches through the group pages, the Jobs page and
back to the Overview through the sidebar (page switches), all users at once. A time runs
from the navigation to the page settled: its title drawn, its chart (or table) drawn, and
no script run in progress.

Errors: any Streamlit exception element on a settled page, any console error or uncaught
page error in a browser, any traceback in the server's log. Requests to other hosts fail
by design here (the app's ``:material/`` favicon comes from fonts.gstatic.com): they are
listed under ``blocked_external``, not counted as errors. Targets (issue 12): no error
ever; the 4-user median first load within 3× the 1-user one (exit code 1 if missed).

Output JSON: ``{"runs": {"<users>": {"first_load_s": {"median", "p95", "max", "all"},
"switch_s": {...}, "errors": [...]}}, "targets": {...}, "setup": {...}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.peer_common import write_json

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHART = '[data-testid="stPlotlyChart"] .main-svg'
TABLE = '[data-testid="stDataFrame"]'
SWITCHES = (("Campaigns", CHART), ("Channels", CHART), ("Ambassadors", CHART),
            ("Jobs", TABLE), ("Overview", CHART))
"""Sidebar link (= page title) → what the settled page shows."""
BLOCKED = "net::ERR_NAME_NOT_RESOLVED"
"""How Chromium reports a request to a host other than 127.0.0.1 here (not counted as an
error of the app: listed under ``blocked_external``)."""
SETTLED_JS = """([title, ready]) => {
  const h1 = [...document.querySelectorAll('h1')].some(h => h.innerText.trim() === title);
  const running = document.querySelector('[data-testid="stStatusWidget"]') !== null;
  return h1 && !running && document.querySelector(ready) !== null;
}"""
EXCEPTIONS_JS = """() => [...document.querySelectorAll('[data-testid="stException"]')]
  .map(e => e.innerText.slice(0, 300))"""


def prepare(home: Path, *, faces: int, assets: int) -> dict[str, float]:
    """The synthetic workspace in ``home`` (built unless its database exists)."""
    from benchmarks.dashboard import build
    from brandmood.core.settings import load_config
    from db.queries.analysis import refresh_face_counts
    from db.workspace import open_workspace

    db = home / "brandmood.db"
    if db.exists():
        return {"reused": 1.0}
    cfg = load_config({**os.environ, "BRANDMOOD_HOME": str(home), "BRANDMOOD_DATABASE_URL": ""})
    ws = open_workspace(cfg)
    try:
        setup = build(db, n_assets=assets, n_faces=faces)
        t0 = time.perf_counter()
        with ws.sessions.begin() as s:  # the per-asset face counts, as the analysis writes them
            refresh_face_counts(session=s)
        setup["face_counts_s"] = time.perf_counter() - t0
    finally:
        ws.close()
    return setup


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, log: Path, timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """A fresh ``brandmood serve --no-worker`` on ``home``; returns it and its URL."""
    port = _free_port()
    env = {**os.environ, "BRANDMOOD_HOME": str(home)}
    env.pop("BRANDMOOD_DATABASE_URL", None)
    exe = Path(sys.executable).parent / "brandmood"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--no-worker"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"brandmood serve exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("brandmood serve did not answer in time")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


async def settle(page, title: str, ready: str, started: float, timeout: float) -> float:
    """Seconds from ``started`` until the page is settled (seen twice, 100 ms apart)."""
    seen_at = None
    while True:
        if await page.evaluate(SETTLED_JS, [title, ready]):
            if seen_at is not None:
                return seen_at - started
            seen_at = time.perf_counter()
        else:
            seen_at = None
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{title} did not settle in {timeout:.0f} s")
        await asyncio.sleep(0.1 if seen_at else 0.05)


async def one_user(page, url: str, errors: list[str], timeout: float
                   ) -> tuple[float, list[float]]:
    """First load of the Overview, then every switch; returns their times."""
    async def check(where: str) -> None:
        for text in await page.evaluate(EXCEPTIONS_JS):
            errors.append(f"exception on {where}: {text}")

    t = time.perf_counter()
    await page.goto(url, timeout=timeout * 1000)
    first = await settle(page, "Overview", CHART, t, timeout)
    await check("Overview (first load)")
    switches = []
    for title, ready in SWITCHES:
        t = time.perf_counter()
        await page.locator('[data-testid="stSidebar"]').get_by_role(
            "link", name=title, exact=True).click(timeout=timeout * 1000)
        switches.append(await settle(page, title, ready, t, timeout))
        await check(title)
    return first, switches


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p95": p95, "max": ordered[-1],
            "all": [round(v, 3) for v in values]}


async def run_users(browser, url: str, users: int, timeout: float) -> dict:
    """``users`` sessions at once against one server."""
    errors: list[str] = []
    blocked: set[str] = set()

    def console(k: int, msg) -> None:
        if msg.type != "error":
            return
        if BLOCKED in msg.text:  # a request this benchmark keeps off the network
            return
        errors.append(f"user {k} console: {msg.text[:300]}")

    def failed(request) -> None:
        if not request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1")):
            blocked.add(request.url)

    contexts = [await browser.new_context(viewport={"width": 1400, "height": 1000})
                for _ in range(users)]
    pages = []
    for k, ctx in enumerate(contexts):
        page = await ctx.new_page()
        page.on("console", lambda m, k=k: console(k, m))
        page.on("pageerror", lambda e, k=k: errors.append(f"user {k} page error: {e}"[:300]))
        page.on("requestfailed", failed)
        pages.append(page)
    try:
        got = await asyncio.gather(*(one_user(p, url, errors, timeout) for p in pages),
                                   return_exceptions=True)
    finally:
        for ctx in contexts:
            await ctx.close()
    firsts, switches = [], []
    for k, g in enumerate(got):
        if isinstance(g, BaseException):
            errors.append(f"user {k}: {type(g).__name__}: {g}"[:300])
            continue
        firsts.append(g[0])
        switches.extend(g[1])
    return {"first_load_s": _stats(firsts) if firsts else None,
            "switch_s": _stats(switches) if switches else None, "errors": errors,
            "blocked_external": sorted(blocked)}


def server_errors(log: Path) -> list[str]:
    """Tracebacks and exceptions in the server's log."""
    lines = log.read_text(errors="replace").splitlines()
    return [f"server log: {line.strip()[:300]}" for line in lines
            if "Traceback" in line or "Error:" in line or "partially initialized" in line]


async def measure(home: Path, counts: list[int], timeout: float, logs: Path) -> dict:
    from playwright.async_api import async_playwright

    runs = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])
        try:
            for n in counts:
                log = logs / f"serve-{n}.log"
                proc, url = start_server(home, log)
                try:
                    runs[str(n)] = await run_users(browser, url, n, timeout)
                finally:
                    stop_server(proc)
                runs[str(n)]["errors"] += server_errors(log)
                _print_row(n, runs[str(n)])
        finally:
            await browser.close()
    return runs


def _print_row(n: int, r: dict) -> None:
    f, s = r["first_load_s"] or {}, r["switch_s"] or {}
    print(f"{n:5d}  {f.get('median', float('nan')):9.2f} {f.get('p95', float('nan')):8.2f} "
          f"{f.get('max', float('nan')):8.2f}  {s.get('median', float('nan')):9.2f} "
          f"{s.get('p95', float('nan')):8.2f}  {len(r['errors']):6d}", flush=True)


def targets(runs: dict) -> dict:
    """No error in any run; the 4-user median first load within 3× the 1-user one."""
    out: dict = {"no_errors": all(not r["errors"] for r in runs.values())}
    one, four = runs.get("1", {}).get("first_load_s"), runs.get("4", {}).get("first_load_s")
    if one and four:
        out["ratio_4_to_1"] = four["median"] / one["median"]
        out["ratio_within_3x"] = out["ratio_4_to_1"] <= 3.0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--assets", type=int, default=None, help="default: faces / 5")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per page, bounded")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the workspace here; an existing one is reused, not rebuilt")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if any(n < 1 for n in args.users):
        ap.error("--users must be positive")
    if not CHROMIUM.exists():
        print(f"error: no Chromium at {CHROMIUM} (scripts/install-system-deps.sh)")
        return 2
    home = args.workdir or Path(tempfile.mkdtemp(prefix="bm-load-"))
    assets = args.assets or max(1, args.faces // 5)
    t0 = time.perf_counter()
    setup = prepare(home, faces=args.faces, assets=assets)
    print(f"workspace {home}: {assets:,} assets, {args.faces:,} faces "
          f"(ready in {time.perf_counter() - t0:.1f} s)")
    print("users  first load median    p95      max  switch median    p95  errors  (s)")
    runs = asyncio.run(measure(home, args.users, args.timeout, home))
    result = targets(runs)
    for r in runs.values():
        for e in r["errors"][:5]:
            print(f"  {e}")
    blocked = sorted({u for r in runs.values() for u in r["blocked_external"]})
    if blocked:
        print(f"requests kept off the network (loopback only): {', '.join(blocked)}")
    print(f"targets: {result}")
    write_json(args.json, {"runs": runs, "targets": result, "setup": {
        "faces": args.faces, "assets": assets, "users": args.users, "home": str(home),
        "server": "brandmood serve --no-worker", "cpus": os.cpu_count(), **setup}})
    ok = result["no_errors"] and result.get("ratio_within_3x", True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
