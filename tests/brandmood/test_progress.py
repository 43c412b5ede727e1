"""Progress reporting never fails, blocks or changes a job (brandmood.core.progress)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import select

from brandmood.core.progress import SafeProgress, safe_progress
from brandmood.services.analyze import run_analysis
from db.models import Asset, AssetKind, Face
from db.queries.core import get_or_create_brand
from db.workspace import Workspace, open_workspace
from ingest.files import FileSource
from ingest.jobs import JobOptions, run_source
from tests.conftest import _config, media_file


def _raise(*_args) -> None:
    raise RuntimeError("the progress bar broke")


def test_a_reporter_that_always_raises_is_logged_once_and_never_raised(caplog) -> None:
    report = SafeProgress(_raise, _raise, job="test job")
    with caplog.at_level(logging.WARNING, logger="brandmood.core.progress"):
        for k in range(1, 6):
            report(k, 5, f"item {k}")
            report.bytes(100)
    assert report.failures == 10
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "test job" in warnings[0].getMessage()
    assert report.last is not None and (report.last.done, report.last.total) == (5, 5)


def test_reporters_run_one_at_a_time_and_lose_nothing_across_threads() -> None:
    """16 threads report at once: the reporter is never re-entered, every byte is counted,
    and the newest event (sent after the others) is the last one delivered."""
    inside = threading.Lock()
    overlaps, delivered, events = [], [], []

    def on_event(done: int, total: int, message: str) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(message)
            return
        try:
            events.append(done)
        finally:
            inside.release()

    def on_bytes(n: int) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(n)
            return
        try:
            delivered.append(n)
        finally:
            inside.release()

    report = SafeProgress(on_event, on_bytes)
    start = threading.Barrier(16)

    def worker(k: int) -> None:
        start.wait()
        for i in range(500):
            report.bytes(k + 1)
            report(i, 1000, f"t{k}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report(1000, 1000, "done")
    assert overlaps == []
    assert sum(delivered) == 500 * sum(range(1, 17))
    assert events[-1] == 1000 and report.failures == 0


def test_safe_progress_does_not_wrap_twice() -> None:
    inner = safe_progress(lambda d, t, m: None)
    assert safe_progress(inner) is inner
    assert not SafeProgress().enabled


def _inputs(folder: Path) -> list[Path]:
    """A group photo, a single face, a video, the same photo twice and a broken file."""
    folder.mkdir()
    names = ["multi_face.jpg", "single_face.jpg", "single_face.mp4"]
    for name in names:
        (folder / name).write_bytes(media_file(name).read_bytes())
    (folder / "zz-copy.jpg").write_bytes(media_file("single_face.jpg").read_bytes())
    data = media_file("0-f15-hao-ph.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(data[: len(data) // 5])
    return [folder]


def _outcomes(summary) -> list[tuple[str, str, str | None]]:
    return [(Path(i.source).name, i.outcome.value, i.reason) for i in summary.items]


def test_ingest_results_unchanged_when_every_report_raises(tmp_path: Path) -> None:
    paths = _inputs(tmp_path / "in")
    results = []
    for name, opts in (("quiet", JobOptions(workers=4)),
                       ("broken bars", JobOptions(workers=4, progress=_raise, on_bytes=_raise))):
        ws = open_workspace(_config(tmp_path / name))
        try:
            summary = run_source(ws, FileSource(paths), brand="Acme", opts=opts)
            with ws.session() as s:
                assets = sorted((a.sha256, a.kind) for a in s.scalars(select(Asset)))
        finally:
            ws.close()
        results.append((_outcomes(summary), summary.bytes, assets))
    assert results[0] == results[1]
    outcomes = dict((n, o) for n, o, _ in results[0][0])
    assert outcomes == {"zz-copy.jpg": "duplicate", "broken.jpg": "failed",
                        "multi_face.jpg": "stored", "single_face.jpg": "stored",
                        "single_face.mp4": "stored"}
    assert sorted(k for _, k in results[0][2]) == sorted(
        [AssetKind.IMAGE, AssetKind.IMAGE, AssetKind.VIDEO])


def _analyzed(ws: Workspace, analyzer, progress) -> dict[str, tuple[str, int]]:
    broken = ws.config.home.parent / "broken.jpg"
    data = media_file("0-f15-hao-ph.jpg").read_bytes()
    broken.write_bytes(data[: len(data) // 4])
    files = {"multi_face.jpg": media_file("multi_face.jpg"), "broken.jpg": broken}
    with ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        for name, path in files.items():
            stored = ws.media.put_file(path)
            s.add(Asset(brand_id=brand.id, source_uri=name, sha256=stored.sha256,
                        media_path=stored.relpath, kind=AssetKind.IMAGE))
    summary = run_analysis(ws, analyzer=analyzer, progress=progress)
    with ws.session() as s:
        uri = dict(s.execute(select(Asset.id, Asset.source_uri)).all())
        faces = {n: 0 for n in uri.values()}
        for (asset_id,) in s.execute(select(Face.asset_id)):
            faces[uri[asset_id]] += 1
    return {uri[i.asset_id]: (i.status.value, faces[uri[i.asset_id]]) for i in summary.items}


def test_analysis_results_unchanged_when_every_report_raises(tmp_path: Path, analyzer) -> None:
    results = []
    for name, progress in (("quiet", None), ("broken bar", _raise)):
        ws = open_workspace(_config(tmp_path / name))
        try:
            results.append(_analyzed(ws, analyzer, progress))
        finally:
            ws.close()
    assert results[0] == results[1]
    assert results[0]["broken.jpg"] == ("failed", 0)
    status, faces = results[0]["multi_face.jpg"]
    assert status == "analyzed" and faces >= 5
