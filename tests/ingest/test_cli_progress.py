"""``brandmood ingest files`` with its progress bars on gives the ``--json`` outcomes, run
after run, with several runs at once (issue 11: a progress bar failed valid files).

Each run is the real console script in its own process and workspace, with eight
download workers; two run at a time. The folder starts with eight tiny photos whose
copies finish together, so the workers report their first bytes at the same moment:
the old bars (``_Bars._open`` set ``items`` before ``data``) failed 1 to 12 files in
about one run in ten here, so 24 runs catch it with a probability near 0.9.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from brandmood.core.settings import load_config
from db.models import IngestItem
from tests.conftest import DEMO_FILES, REPO, media_file
from tests.ingest.conftest import jpeg_bytes

RUNS, AT_ONCE = 24, 2
EXE = Path(sys.executable).parent / "brandmood"

pytestmark = pytest.mark.slow


def _inputs(folder: Path) -> dict[str, str]:
    """32 inputs; returns the outcome each must get, by source, counted from how they
    were made: every distinct medium stored, copies duplicate, broken files failed."""
    folder.mkdir()
    want: dict[str, str] = {}
    for k in range(8):  # first in the folder's order: eight tiny distinct photos
        (folder / f"00-{k}.jpg").write_bytes(jpeg_bytes(100 + k, size=64))
        want[str(folder / f"00-{k}.jpg")] = "stored"
    for name in DEMO_FILES:  # photos (a group photo among them), videos, a PNG
        (folder / name).write_bytes(media_file(name).read_bytes())
        want[str(folder / name)] = "stored"
    for copy, of in (("zz-group.jpg", "multi_face.jpg"), ("zz-video.mp4", "single_face.mp4"),
                     ("zz-face.jpg", "single_face.jpg")):
        (folder / copy).write_bytes(media_file(of).read_bytes())
        want[str(folder / copy)] = "duplicate"
    data = media_file("0-f15-hao-ph.jpg").read_bytes()
    for name, body in (("broken.jpg", data[: len(data) // 5]), ("notes.jpg", b"not a photo"),
                       ("empty.jpg", b"")):
        (folder / name).write_bytes(body)
        want[str(folder / name)] = "failed"
    (folder / "sub").mkdir()
    (folder / "sub" / "new.jpg").write_bytes(jpeg_bytes(7, size=240))
    want[str(folder / "sub" / "new.jpg")] = "stored"
    archive = folder / "drop.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fresh.jpg", jpeg_bytes(8, size=240))
        zf.writestr("again.jpg", media_file("45-m7-di-ph.jpg").read_bytes())
        zf.writestr("../escape.jpg", jpeg_bytes(9))
    want.update({f"{archive}!/fresh.jpg": "stored", f"{archive}!/again.jpg": "duplicate",
                 f"{archive}!/../escape.jpg": "failed"})
    return want


def _ingest(folder: Path, home: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BRANDMOOD_HOME": str(home),
           "BRANDMOOD_CACHE": str(load_config().cache_dir)}
    env.pop("BRANDMOOD_DATABASE_URL", None)
    return subprocess.run([str(EXE), "ingest", "files", str(folder), "--brand", "Acme",
                           "--workers", "8", *extra], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def _stored_items(home: Path) -> list[tuple[str, str, str | None]]:
    engine = create_engine(f"sqlite:///{home / 'brandmood.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(IngestItem.source, IngestItem.outcome,
                                       IngestItem.reason).order_by(IngestItem.id)).all()
    finally:
        engine.dispose()
    return sorted((s, o.value, r) for s, o, r in rows)


def _table_counts(stdout: str) -> dict[str, int]:
    rows = (line.split() for line in stdout.splitlines())
    return {r[0]: int(r[1]) for r in rows
            if len(r) == 2 and r[0] in ("stored", "duplicate", "failed") and r[1].isdigit()}


def test_progress_bars_never_change_the_outcomes(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    want = _inputs(folder)
    assert len(want) == 32
    ref = _ingest(folder, tmp_path / "ref", "--json")
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = json.loads(ref.stdout)
    reference = sorted((i["source"], i["outcome"], i["reason"]) for i in out["items"])
    assert {s: o for s, o, _ in reference} == want
    counts = {k: out[k] for k in ("stored", "duplicate", "failed")}
    assert counts == {k: sum(v == k for v in want.values())
                      for k in ("stored", "duplicate", "failed")}

    def with_bars(n: int) -> tuple[int, subprocess.CompletedProcess, list]:
        home = tmp_path / f"run{n}"
        done = _ingest(folder, home)
        return n, done, _stored_items(home) if done.returncode == 0 else []

    with ThreadPoolExecutor(AT_ONCE) as pool:
        runs = list(pool.map(with_bars, range(RUNS)))
    for n, done, items in runs:
        assert done.returncode == 0, (n, done.stderr[-2000:])
        assert "items:" in done.stderr and "bytes:" in done.stderr  # the bars did run
        assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
        assert _table_counts(done.stdout) == counts, (n, done.stdout)
        assert items == reference, n
