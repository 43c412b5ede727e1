"""The README's scaled set-up recipe, run line by line on this machine: PostgreSQL, a real
S3 server on 127.0.0.1 (moto), a real ``ray start --head`` on loopback, and the CLI as
subprocesses; the faces end up in PostgreSQL and the media only in the bucket.

Test-only changes to the recipe's lines, each for a reason: the ``export`` lines get this
machine's values (a fresh database, the test bucket, a random token); ``ray start`` also
gets ``--block`` (so this test owns the process and stops it by its id), free ports (a
Redis on 6379 here) and 2 CPUs; ``ray stop`` becomes stopping that process, because
``ray stop`` stops every Ray of the user on the machine, including other sessions'.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from brandmood.core.settings import load_config
from db.models import Asset, AssetAnalysis, Face
from db.workspace import open_workspace
from tests.conftest import REPO, media_file
from tests.s3 import bucket_keys

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]

BIN = Path(sys.executable).parent
STEP_TIMEOUT_S = 300


def recipe() -> list[str]:
    """The shell lines between the README's ``scaled-recipe`` markers."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- scaled-recipe -->\n```bash\n(.*?)```\n<!-- /scaled-recipe -->",
                      text, re.S)
    assert block, "README has no scaled-recipe block"
    return [ln.strip() for ln in block.group(1).splitlines() if ln.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exported(lines: list[str]) -> set[str]:
    """Names the recipe's ``export`` lines set."""
    return {m for line in lines if line.startswith("export ")
            for m in re.findall(r"(?:^export |\s)([A-Z][A-Z0-9_]*)=", line)}


class RayHead:
    """``ray start --head … --block`` in its own session, stopped by its process id."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "w") as fh:
            self.proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_ready(self, address_file: Path, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if address_file.exists() and address_file.read_text().strip():
                return address_file.read_text().strip()
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError(f"ray start did not come up:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGKILL to the process group ``ray start`` leads (its own session: GCS, raylet,
        workers); a graceful stop waits for the dead GCS for half a minute. Its session
        folder is removed by the test."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _session_processes(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)


def _session_processes(sid: int) -> list[str]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,comm="], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return [ln for ln in out.splitlines() if ln.split()[1] == str(sid)]


def test_readme_recipe_runs_end_to_end(pg_url, s3_env, s3_server, tmp_path):
    lines = recipe()
    raytmp = Path(tempfile.mkdtemp(prefix="bmr-", dir="/tmp"))  # short: Unix sockets
    assets = tmp_path / "campaign-assets"
    assets.mkdir()
    for name in ("single_face.jpg", "multi_face.jpg", "single_face.mp4"):
        (assets / name).write_bytes(media_file(name).read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "BRANDMOOD_"))}
    env.update(s3_env, BRANDMOOD_DATABASE_URL=pg_url, BRANDMOOD_HOME=str(tmp_path / "home"),
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_TMPDIR=str(raytmp),
               RAY_USAGE_STATS_ENABLED="0", HOME=str(tmp_path))
    assert _exported(lines) <= set(env), "the recipe exports a variable this test lacks"
    head: RayHead | None = None
    outputs: list[str] = []
    try:
        for line in lines:
            if line.startswith("export "):
                continue
            argv = shlex.split(line.replace("./campaign-assets", str(assets)))
            tool = Path(argv[0]).name
            if tool == "ray" and argv[1] == "stop":
                head.stop()
                continue
            argv[0] = str(BIN / tool)
            if tool == "ray":
                argv += ["--block", f"--port={_free_port()}", "--num-cpus=2",
                         f"--object-store-memory={256 * 2**20}",
                         f"--dashboard-agent-listen-port={_free_port()}",
                         f"--metrics-export-port={_free_port()}",
                         f"--runtime-env-agent-port={_free_port()}"]
                head = RayHead(argv, env, tmp_path / "ray-start.log")
                head.wait_ready(raytmp / "ray" / "ray_current_cluster")
                continue
            if argv[1] == "analyze":
                argv.append("--json")
            proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=STEP_TIMEOUT_S, check=False)
            assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
            outputs.append(proc.stdout)
    finally:
        if head is not None:
            head.stop()
            assert _session_processes(head.proc.pid) == []  # nothing of Ray left running
        shutil.rmtree(raytmp, ignore_errors=True)
    summary = json.loads(outputs[-1])
    assert (summary["analyzed"], summary["failed"]) == (3, 0)
    ws = open_workspace(load_config(env), migrate=False)
    try:
        with ws.session() as s:
            paths = set(s.scalars(select(Asset.media_path)))
            outcomes = s.scalar(select(func.count(AssetAnalysis.id)))
            faces = dict(s.execute(select(Asset.source_uri, func.count(Face.id))
                                   .join(Face, Face.asset_id == Asset.id)
                                   .group_by(Asset.source_uri)).all())
    finally:
        ws.close()
    by_name = {Path(k).name: v for k, v in faces.items()}
    assert outcomes == 3 and by_name["single_face.jpg"] == 1 and by_name["multi_face.jpg"] >= 5
    assert by_name["single_face.mp4"] == 3 and summary["faces"] == sum(faces.values())
    assert set(bucket_keys(s3_server, s3_env["BRANDMOOD_MEDIA_URL"])) == paths
    assert not (tmp_path / "home" / "media").exists()
