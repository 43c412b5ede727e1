"""Shared helpers of the peer benchmarks: the benchmark-only venv, subprocess calls, tables.

The ``fer`` library needs TensorFlow, which brandmood never installs into its own venv, so
everything ``fer`` runs in the venv that ``benchmarks/peer_env.sh`` builds
(``.cache/peer-venv``), called as a subprocess that writes JSON.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


class PeerError(RuntimeError):
    """The peer venv could not be built, or a peer script failed."""


def peer_python() -> Path:
    """Build (first time) or reuse the peer venv; return its python.

    Raises:
        PeerError: if ``peer_env.sh`` fails (one line naming why).
    """
    proc = subprocess.run(["bash", str(BENCH / "peer_env.sh")], capture_output=True, text=True,
                          check=False, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not Path(lines[-1]).exists():
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PeerError(f"peer_env.sh failed (exit {proc.returncode}): {tail}")
    return Path(lines[-1])


def run_peer(script: str, args: Sequence[str], *, timeout: float = 900.0,
             python: Path | None = None) -> dict:
    """Run ``benchmarks/<script>`` in the peer venv and return the JSON it writes.

    Args:
        script: file name under ``benchmarks/`` that accepts ``--json OUT``.
        args: its other arguments.
        timeout: seconds before the subprocess is killed.
        python: the peer interpreter (default: :func:`peer_python`).

    Raises:
        PeerError: if the script fails or times out.
    """
    py = python or peer_python()
    with tempfile.TemporaryDirectory(prefix="brandmood-peer-") as tmp:
        out = Path(tmp) / "out.json"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        try:
            proc = subprocess.run([str(py), str(BENCH / script), *args, "--json", str(out)],
                                  capture_output=True, text=True, check=False, timeout=timeout,
                                  env=env, cwd=ROOT)
        except subprocess.TimeoutExpired:
            raise PeerError(f"{script} timed out after {timeout:.0f} s") from None
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:]) or "no output"
            raise PeerError(f"{script} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(out.read_text())


def fmt(value: object, digits: int = 3) -> str:
    """Format a number for a table (``-`` for None/NaN)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for j, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def write_json(path: Path | None, data: dict) -> None:
    """Write ``data`` as indented JSON (NaN → null), creating the folder."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=2) + "\n")
    print(f"wrote {path}")


def _clean(obj: object) -> object:
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


class PeerServer:
    """``peer_fer.py serve`` kept running, so requests can be interleaved with our own runs.

    Use as a context manager; :meth:`request` sends one JSON request and returns the answer.
    The library's log output goes to a temporary file (its tail is shown on errors).

    Args:
        keras: use fer's Keras HDF5 model instead of its default TFLite one.
        timeout: seconds to wait for the server to start and for each answer.

    Raises:
        PeerError: if the server does not start, a request fails or times out.
    """

    def __init__(self, *, keras: bool = False, timeout: float = 600.0) -> None:
        self.timeout = timeout
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        args = [str(peer_python()), str(BENCH / "peer_fer.py"), "serve"]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen([*args, *(["--keras"] if keras else [])], cwd=ROOT,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._log, text=True, env=env)
        hello = self._read()
        self.load_s = float(hello.get("load_s", float("nan")))

    def _read(self) -> dict:
        out = self._proc.stdout
        if out is None or not select.select([out], [], [], self.timeout)[0]:
            self._proc.kill()
            raise PeerError(f"peer_fer.py serve gave no answer within {self.timeout:.0f} s")
        line = out.readline()
        if not line:
            self._log.seek(0)
            tail = "\n".join(self._log.read().strip().splitlines()[-5:])
            raise PeerError(f"peer_fer.py serve stopped (exit {self._proc.poll()}):\n{tail}")
        return json.loads(line)

    def request(self, **req: object) -> dict:
        """Send one request (see ``peer_fer.serve``) and return its answer."""
        if self._proc.stdin is None or self._proc.poll() is not None:
            raise PeerError("peer_fer.py serve is not running")
        self._proc.stdin.write(json.dumps(req) + "\n")
        self._proc.stdin.flush()
        ans = self._read()
        if "error" in ans:
            raise PeerError(f"fer failed: {ans['error']}")
        return ans

    def close(self) -> None:
        """Stop the server."""
        if self._proc.poll() is None:
            if self._proc.stdin:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()

    def __enter__(self) -> PeerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
