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

Each run also records the CPU seconds the server and the browsers spent: on one machine
they share its cores, so the browsers' rendering (which real analysts do on their own
machines) weighs on the times. ``--baseline-tree DIR`` first measures ``brandmood serve``
of another checkout (e.g. the main branch) the same way, in the same run.

Output JSON: ``{"runs": {"<users>": {"first_load_s": {"median", "p95", "max", "all"},
"switch_s": {...}, "errors": [...], "server_cpu_s", "browser_cpu_s"}}, "targets": {...},
"baseline": {"tree", "runs", "targets"} | null, "setup": {...}}``.
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
        setup = build(ws.engine, n_assets=assets, n_faces=faces)
        t0 = time.perf_counter()
        with ws.sessions.begin() as s:  # the per-asset face counts, as the analysis writes them
            refresh_face_counts(session=s)
        setup["face_counts_s"] = time.perf_counter() - t0
    finally:
        ws.close()
    return setup


def baseline_home(home: Path, tree: Path) -> Path:
    """A copy of the workspace's database for the checkout ``tree``'s server: migrated down
    to the newest migration both checkouts share (that server migrates it up to its own)."""
    import sqlite3

    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from db.migrate import MIGRATIONS, downgrade
    from db.session import make_engine

    def scripts(folder: Path) -> ScriptDirectory:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(folder))
        return ScriptDirectory.from_config(cfg)

    ours = {r.revision for r in scripts(MIGRATIONS).walk_revisions()}
    shared = next((r.revision for r in scripts(tree / "db" / "migrations").walk_revisions()
                   if r.revision in ours), "base")
    dest = home / "baseline"
    dest.mkdir(exist_ok=True)
    db = dest / "brandmood.db"
    db.unlink(missing_ok=True)
    with sqlite3.connect(home / "brandmood.db") as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    engine = make_engine(f"sqlite:///{db}")
    try:
        downgrade(engine, shared)
    finally:
        engine.dispose()
    return dest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, log: Path, tree: Path = ROOT,
                 timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """A fresh ``brandmood serve`` of the checkout ``tree`` on ``home`` (this checkout's with
    ``--no-worker``; another's as it is); returns it and its URL."""
    port = _free_port()
    env = {**os.environ, "BRANDMOOD_HOME": str(home), "PYTHONPATH": str(tree)}
    env.pop("BRANDMOOD_DATABASE_URL", None)
    exe = Path(sys.executable).parent / "brandmood"
    cmd = [str(exe), "serve", "--port", str(port), *(["--no-worker"] if tree == ROOT else [])]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT)
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


def cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) of the live processes in ``root``'s tree (Linux /proc)."""
    tick, parent, cpu = os.sysconf("SC_CLK_TCK"), {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick

    def under(pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parent.get(pid, 0)
        return False
    return sum(c for pid, c in cpu.items() if under(pid))


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


async def run_users(browser, url: str, server_pid: int, users: int, timeout: float) -> dict:
    """``users`` sessions at once against one server; also the CPU seconds the server and
    the browsers (with this script) spent meanwhile: on one machine they share the cores."""
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
    server0, total0 = cpu_seconds(server_pid), cpu_seconds(os.getpid())
    try:
        got = await asyncio.gather(*(one_user(p, url, errors, timeout) for p in pages),
                                   return_exceptions=True)
        server_cpu = cpu_seconds(server_pid) - server0
        browser_cpu = cpu_seconds(os.getpid()) - total0 - server_cpu  # + this script
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
            "blocked_external": sorted(blocked), "server_cpu_s": round(server_cpu, 2),
            "browser_cpu_s": round(browser_cpu, 2)}


def server_errors(log: Path) -> list[str]:
    """Tracebacks and exceptions in the server's log."""
    lines = log.read_text(errors="replace").splitlines()
    return [f"server log: {line.strip()[:300]}" for line in lines
            if "Traceback" in line or "Error:" in line or "partially initialized" in line]


async def measure(home: Path, counts: list[int], timeout: float, logs: Path,
                  tree: Path = ROOT) -> dict:
    from playwright.async_api import async_playwright

    runs = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])
        try:
            for n in counts:
                log = logs / f"serve-{tree.name}-{n}.log"
                proc, url = start_server(home, log, tree)
                try:
                    runs[str(n)] = await run_users(browser, url, proc.pid, n, timeout)
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
          f"{s.get('p95', float('nan')):8.2f}  {len(r['errors']):6d}  "
          f"{r['server_cpu_s']:10.1f} {r['browser_cpu_s']:11.1f}", flush=True)


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
    ap.add_argument("--baseline-tree", type=Path, default=None,
                    help="also measure `brandmood serve` of this checkout (e.g. the main "
                         "branch), first, in the same run")
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
    header = ("users  first load median    p95      max  switch median    p95  errors  "
              "server CPU  browser CPU  (s)")
    baseline = None
    if args.baseline_tree is not None:
        print(f"baseline: brandmood serve of {args.baseline_tree}\n{header}")
        tree = args.baseline_tree.resolve()
        baseline = asyncio.run(measure(baseline_home(home, tree), args.users, args.timeout,
                                       home, tree))
        print("this checkout:")
    print(header)
    runs = asyncio.run(measure(home, args.users, args.timeout, home))
    result = targets(runs)
    for r in runs.values():
        for e in r["errors"][:5]:
            print(f"  {e}")
    blocked = sorted({u for r in runs.values() for u in r["blocked_external"]})
    if blocked:
        print(f"requests kept off the network (loopback only): {', '.join(blocked)}")
    print(f"targets: {result}")
    write_json(args.json, {"runs": runs, "targets": result, "baseline": baseline and {
        "tree": str(args.baseline_tree), "runs": baseline, "targets": targets(baseline)},
        "setup": {
        "faces": args.faces, "assets": assets, "users": args.users, "home": str(home),
        "server": "brandmood serve --no-worker", "cpus": os.cpu_count(), **setup}})
    ok = result["no_errors"] and result.get("ratio_within_3x", True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
