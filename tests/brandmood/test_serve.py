"""``brandmood serve``: a server (no file watcher, no run-on-save) that imports what the pages
need before it takes requests, with one worker beside it that never outlives it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from brandmood.ui.preload import imported_modules, sources
from tests.conftest import REPO

EXE = Path(sys.executable).parent / "brandmood"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(check, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path, Path]:
    home, log = tmp_path / "ws", tmp_path / "serve.log"
    env = {**os.environ, "BRANDMOOD_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("BRANDMOOD_DATABASE_URL", None)
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([str(EXE), "serve", "--port", str(port), *args], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
    _until(healthy, "the server to answer")
    return proc, home, log


def _workers(home: Path) -> list[tuple]:
    engine = create_engine(f"sqlite:///{home / 'brandmood.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT name, pid, stopped_at FROM job_worker"))]
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stopping_serve_leaves_no_worker_behind(tmp_path, stop):
    proc, home, log = _serve(tmp_path)
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        for option, value in ((b"--server.fileWatcherType", b"none"),
                              (b"--server.runOnSave", b"false")):
            assert cmdline[cmdline.index(option) + 1] == value
        ((name, pid, stopped),) = _until(lambda: _workers(home), "the worker to register")
        assert stopped is None and _children(proc.pid) == [pid]
    finally:
        proc.send_signal(stop)
        proc.wait(timeout=60)
    _until(lambda: not _alive(pid), "the worker to exit with the server", timeout=60)
    ((_, _, stopped),) = _workers(home)
    assert stopped is not None, log.read_text()[-3000:]  # it stopped cleanly, not killed
    assert f"worker {name} stopped" in log.read_text()


@pytest.mark.slow
def test_serve_without_a_worker(tmp_path):
    proc, home, log = _serve(tmp_path, "--no-worker")
    try:
        assert _children(proc.pid) == []
        assert "no worker" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert _workers(home) == []


CLIENT_SECRET = "serve-client-s3cret-value"
COOKIE_SECRET = "serve-cookie-s3cret-" + "k" * 30


@pytest.mark.slow
def test_served_with_sign_in_keeps_secrets_out_and_xsrf_on(tmp_path, monkeypatch):
    """A real server with sign-in configured: its pages set the XSRF cookie, its upload
    limit comes from the settings, and neither the client secret nor the cookie secret
    appear in its output, its pages, its command line, its or its worker's environment,
    or the audit trail."""
    for name, value in {
            "BRANDMOOD_OIDC_METADATA_URL": "http://127.0.0.1:9/.well-known/openid-configuration",
            "BRANDMOOD_OIDC_CLIENT_ID": "brandmood-app",
            "BRANDMOOD_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "BRANDMOOD_COOKIE_SECRET": COOKIE_SECRET,
            "BRANDMOOD_MAX_UPLOAD_MB": "7"}.items():
        monkeypatch.setenv(name, value)
    proc, home, log = _serve(tmp_path)
    try:
        port = next(a for a in Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
                    if a.isdigit() and len(a) >= 4).decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
            page = r.read().decode(errors="replace")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=30) as r:
            cookies = r.headers.get_all("Set-Cookie") or []
        assert any(c.startswith("_streamlit_xsrf=") for c in cookies), cookies
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[cmdline.index(b"--server.maxUploadSize") + 1] == b"7"
        assert cmdline[cmdline.index(b"--server.enableXsrfProtection") + 1] == b"true"
        seen = [log.read_bytes(), page.encode(), b"\0".join(cmdline)]
        seen += [Path(f"/proc/{pid}/environ").read_bytes()
                 for pid in (proc.pid, *_children(proc.pid))]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    engine = create_engine(f"sqlite:///{home / 'brandmood.db'}")
    with engine.connect() as conn:
        seen += [json.dumps(list(map(list, conn.execute(text(
            "SELECT actor, details FROM audit_events"))))).encode()]
    engine.dispose()
    seen.append(log.read_bytes())
    for secret in (CLIENT_SECRET, COOKIE_SECRET):
        assert not [i for i, blob in enumerate(seen) if secret.encode() in blob], secret
    assert (home / ".serve" / "secrets.toml").read_text().count(CLIENT_SECRET) == 1


PRELOAD = """
import json, sys
from brandmood.ui.preload import preload
done = preload()
print(json.dumps({"done": done, "loaded": sorted(sys.modules)}))
"""


def test_preload_imports_what_the_pages_need_and_no_model_code():
    out = subprocess.run([sys.executable, "-c", PRELOAD], cwd=REPO, capture_output=True,
                         text=True, timeout=300, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    got = json.loads(out.stdout.splitlines()[-1])
    loaded = set(got["loaded"])
    wanted = {"pandas", "pyarrow", "plotly.express", "plotly.io", "brandmood.ui.data",
              "brandmood.ui.jobs_views", "brandmood.services.charts", "analytics.video", "av"}
    assert wanted <= loaded, wanted - loaded
    assert "torch" not in loaded and "brandmood.services.analyze" not in loaded
    # every module a page file names at its top is loaded
    pages = imported_modules(p for p in sources() if p.parent.name == "pages")
    assert {m for m in pages if m in got["done"]} >= {"streamlit", "brandmood.ui.views"}


def test_imported_modules_reads_nested_imports(tmp_path):
    page = tmp_path / "p.py"
    page.write_text("from __future__ import annotations\nimport a.b as c\n"
                    "from d import e, f\n\ndef g():\n    from h import i\n"
                    "    from .rel import x\n    import brandmood.services.analyze\n"
                    "    from analytics.finetune import FinetuneConfig\n")
    assert imported_modules([page]) == ["a.b", "d", "d.e", "d.f", "h", "h.i"]
