"""The analysis job on a real workspace: real files, real models, failures, resume, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select
from typer.testing import CliRunner

from analytics.images import load_image
from brandmood.cli import app
from brandmood.core.settings import load_config
from brandmood.core.types import LABELS
from brandmood.services.analyze import run_analysis
from db.models import (
    AnalysisRun,
    Asset,
    AssetAnalysis,
    AssetFaceCounts,
    AssetKind,
    AssetStatus,
    Face,
    Frame,
    RunStatus,
)
from db.queries.analysis import assets_to_analyze
from db.queries.core import NotFoundError, get_or_create_brand
from db.workspace import Workspace, open_workspace
from tests.conftest import REPO, media_file

FILES = ("single_face.jpg", "multi_face.jpg", "mountain.jpg", "corrupt.jpg", "single_face.mp4")


def add_assets(ws: Workspace, tmp_path: Path) -> dict[str, int]:
    """Store real files (and one corrupt JPEG) as pending assets; returns name -> id."""
    made = {"corrupt.jpg": tmp_path / "corrupt.jpg", "mountain.jpg": tmp_path / "mountain.jpg"}
    data = media_file("0-f15-hao-ph.jpg").read_bytes()
    made["corrupt.jpg"].write_bytes(data[: len(data) // 4])
    with Image.open(media_file("free-mountain-vector-01.jpg")) as im:  # no face; smaller copy
        im.convert("RGB").resize((640, 360)).save(made["mountain.jpg"], quality=90)
    ids = {}
    with ws.sessions.begin() as session:
        brand = get_or_create_brand(session, name="Acme")
        for name in FILES:
            src = made.get(name) or media_file(name)
            stored = ws.media.put_file(src)
            asset = Asset(brand_id=brand.id, source_uri=str(src), sha256=stored.sha256,
                          media_path=stored.relpath,
                          kind=AssetKind.VIDEO if name.endswith(".mp4") else AssetKind.IMAGE)
            session.add(asset)
            session.flush()
            ids[name] = asset.id
    return ids


def _faces_per_asset(ws: Workspace, run_id: int) -> dict[int, int]:
    with ws.session() as s:
        return dict(s.execute(select(Face.asset_id, func.count(Face.id))
                              .where(Face.run_id == run_id).group_by(Face.asset_id)).all())


def test_job_analyzes_fails_one_and_resumes_without_duplicates(any_ws, tmp_path, analyzer):
    ws = any_ws  # SQLite and PostgreSQL
    ids = add_assets(ws, tmp_path)
    calls = []
    summary = run_analysis(ws, progress=lambda d, t, m: calls.append((d, t)))
    assert (summary.analyzed, summary.failed, summary.resumed) == (4, 1, False)
    assert calls[-1] == (5, 5) and [d for d, _ in calls] == [1, 2, 3, 4, 5]
    (bad,) = [i for i in summary.items if i.status is AssetStatus.FAILED]
    assert bad.asset_id == ids["corrupt.jpg"] and "truncated or corrupt" in bad.reason
    faces = _faces_per_asset(ws, summary.run_id)
    assert faces[ids["single_face.jpg"]] == 1 and faces[ids["multi_face.jpg"]] >= 5
    assert ids["mountain.jpg"] not in faces
    assert faces[ids["single_face.mp4"]] == 3  # one face in each of 3 sampled frames
    with ws.session() as s:
        run = s.get(AnalysisRun, summary.run_id)
        assert run.status is RunStatus.DONE and run.finished_at is not None
        assert (run.n_assets, run.n_failed, run.n_faces) == (5, 1, sum(faces.values()))
        assert run.model_name == analyzer.classifier.info.name
        assert run.weights_sha256 == analyzer.classifier.info.weights_sha256
        assert run.detector.startswith("mtcnn@") and run.parameters["every_s"] == 1.0
        assert run.timings["total_s"] > 0 and run.timings["jobs"] == 1
        corrupt = s.get(Asset, ids["corrupt.jpg"])
        assert corrupt.status is AssetStatus.FAILED and "truncated" in corrupt.error
        assert s.get(Asset, ids["single_face.jpg"]).status is AssetStatus.ANALYZED
        video = s.scalar(select(AssetAnalysis).where(
            AssetAnalysis.asset_id == ids["single_face.mp4"]))
        assert video.n_frames == 3 and len(video.summary["tracks"]) == 1
        times = s.scalars(select(Frame.timestamp_ms).where(
            Frame.asset_id == ids["single_face.mp4"]).order_by(Frame.timestamp_ms)).all()
        assert times == [0, 1000, 2000]
        face = s.scalar(select(Face).where(Face.asset_id == ids["single_face.jpg"]))
        (ref,) = analyzer.analyze_images([load_image(media_file("single_face.jpg"))])
        for stored, p in zip(face.probs(), ref.probs[0], strict=True):
            # a class the model lacks is NULL, never 0
            assert (stored is None) if np.isnan(p) else stored == pytest.approx(p, abs=1e-6)
        assert face.dominant is ref.dominant[0] and face.uncertain == bool(ref.uncertain[0])
        assert face.confidence == pytest.approx(float(ref.confidence[0]), abs=1e-6)
        assert face.x1 == pytest.approx(float(ref.boxes[0, 0]), abs=1e-3)
        assert face.track_id is None and len(face.landmarks) == 5
        tracked = s.scalars(select(Face.track_id).where(
            Face.asset_id == ids["single_face.mp4"])).all()
        assert tracked == [0, 0, 0]

    again = run_analysis(ws)  # nothing new: same run continued, nothing processed
    assert again.run_id == summary.run_id and again.resumed and again.items == []
    assert again.skipped == 5
    redo = run_analysis(ws, asset_ids=[ids["single_face.jpg"], ids["multi_face.jpg"]])
    assert redo.analyzed == 2 and _faces_per_asset(ws, summary.run_id) == faces
    other = run_analysis(ws, every_s=2.0, asset_ids=[ids["single_face.mp4"]])
    assert other.run_id != summary.run_id  # other parameters: a new run
    assert _faces_per_asset(ws, other.run_id) == {ids["single_face.mp4"]: 2}  # 0 s and 2 s
    # the per-asset face counts follow each write: the newest analyzed run of each asset
    with ws.session() as s:
        counts = {r.asset_id: r for r in s.scalars(select(AssetFaceCounts))}
    assert ids["corrupt.jpg"] not in counts  # never analyzed: no row
    assert (counts[ids["single_face.mp4"]].run_id, counts[ids["single_face.mp4"]].n_faces) == (
        other.run_id, 2)
    for name in ("single_face.jpg", "multi_face.jpg", "mountain.jpg"):
        row = counts[ids[name]]
        assert row.run_id == summary.run_id and row.n_faces == faces.get(ids[name], 0)
        assert row.n_faces == sum(getattr(row, f"n_{lbl}") for lbl in LABELS)
    assert counts[ids["mountain.jpg"]].dominant is None
    assert counts[ids["single_face.jpg"]].dominant is not None


KILL_SCRIPT = """
import os, signal, sys
from brandmood.core.settings import load_config
from brandmood.services.analyze import run_analysis
from db.workspace import open_workspace

def progress(done, total, message):
    if done == 2:
        os.kill(os.getpid(), signal.SIGKILL)

run_analysis(open_workspace(load_config()), progress=progress)
"""


@pytest.mark.slow
def test_killed_job_resumes_in_the_same_run(ws, tmp_path, analyzer):
    ids = add_assets(ws, tmp_path)
    env = dict(os.environ, BRANDMOOD_HOME=str(ws.config.home),
               BRANDMOOD_DATABASE_URL=ws.config.database_url, BRANDMOOD_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == -9, proc.stderr[-2000:]
    with ws.session() as s:
        (run,) = s.scalars(select(AnalysisRun)).all()
        assert run.status is RunStatus.RUNNING  # the kill left it unfinished
        assert s.scalar(select(func.count(AssetAnalysis.id))) == 2
    resumed = run_analysis(ws)
    assert resumed.resumed and resumed.run_id == run.id
    assert resumed.skipped == 2 and len(resumed.items) == 3
    faces = _faces_per_asset(ws, run.id)
    assert faces[ids["single_face.jpg"]] == 1 and faces[ids["single_face.mp4"]] == 3
    with ws.session() as s:
        assert s.scalar(select(func.count(AssetAnalysis.id))) == 5
        run = s.get(AnalysisRun, run.id)
        assert run.status is RunStatus.DONE and run.n_assets == 5 and run.n_failed == 1
        assert run.timings["jobs"] == 1  # the killed job never recorded its timings
        frames = s.scalar(select(func.count(Frame.id)).where(
            Frame.asset_id == ids["single_face.mp4"]))
        assert frames == 3


def test_missing_media_file_fails_that_asset_only(ws, tmp_path, analyzer):
    ids = add_assets(ws, tmp_path)
    with ws.session() as s:
        rel = s.get(Asset, ids["single_face.jpg"]).media_path
    ws.media.path(rel).unlink()  # the file vanished from the store
    summary = run_analysis(ws, asset_ids=[ids["single_face.jpg"], ids["multi_face.jpg"]])
    outcome = {i.asset_id: i for i in summary.items}
    assert outcome[ids["single_face.jpg"]].status is AssetStatus.FAILED
    assert "missing" in outcome[ids["single_face.jpg"]].reason
    assert outcome[ids["multi_face.jpg"]].status is AssetStatus.ANALYZED
    with ws.sessions.begin() as s:
        todo = assets_to_analyze(session=s, run_id=summary.run_id)
        assert ids["single_face.jpg"] not in todo  # failed here and still marked failed
        assert ids["multi_face.jpg"] not in todo and ids["mountain.jpg"] in todo
        s.get(Asset, ids["single_face.jpg"]).status = AssetStatus.PENDING  # reset to retry
    with ws.session() as s:
        assert ids["single_face.jpg"] in assets_to_analyze(session=s, run_id=summary.run_id)


def test_cli_analyze_json_and_one_line_errors(ws_env, tmp_path, analyzer):
    ws = open_workspace(load_config())
    try:
        ids = add_assets(ws, tmp_path)
    finally:
        ws.close()
    runner = CliRunner()
    ok = runner.invoke(app, ["analyze", "--json", "--asset-id", str(ids["single_face.jpg"]),
                             "--asset-id", str(ids["corrupt.jpg"])])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert (data["analyzed"], data["failed"], data["faces"]) == (1, 1, 1)
    trail = [json.loads(line) for line in
             runner.invoke(app, ["audit", "list", "--json"]).stdout.splitlines()]
    assert [(e["action"], e["details"]["analysis_run_id"], e["details"]["faces"])
            for e in trail] == [("ingest", data["run_id"], 1)]
    assert trail[0]["user"].startswith("os:")
    missing = runner.invoke(app, ["analyze", "--asset-id", "9999"])
    assert missing.exit_code == 2
    assert "no asset with id 9999" in missing.output and "Traceback" not in missing.output
    unknown = runner.invoke(app, ["analyze", "--model", "no-such-model"])
    assert unknown.exit_code == 2 and "unknown model" in unknown.output


def test_settings_page_choices_reach_the_analysis(ws, tmp_path):
    """The model and uncertainty threshold stored on Settings drive the next run."""
    from analytics.pipeline import default_analyzer
    from brandmood.services.analyze import workspace_analyzer
    from db.queries.review import SettingKey, set_setting

    base = workspace_analyzer(ws)
    assert base is default_analyzer()  # nothing stored: the registry default, shared
    with ws.sessions.begin() as s:
        set_setting(session=s, key=SettingKey.DEFAULT_MODEL, value="fer-mini-xception")
        set_setting(session=s, key=SettingKey.UNCERTAINTY_THRESHOLD, value="0.8")
    chosen = workspace_analyzer(ws)
    assert chosen.classifier.info.name == "fer-mini-xception"
    assert chosen.rule.min_confidence == 0.8
    assert chosen.rule.min_margin == base.rule.min_margin
    assert workspace_analyzer(ws, model="facex").classifier.info.name == "facex"

    add_assets(ws, tmp_path)
    summary = run_analysis(ws, asset_ids=None)
    with ws.session() as s:
        run = s.get(AnalysisRun, summary.run_id)
        assert run.model_name == "fer-mini-xception"
        assert run.parameters["min_confidence"] == 0.8
        faces = s.scalars(select(Face).where(Face.run_id == run.id)).all()
    assert faces, "the photos have faces"
    for face in faces:  # the stored flag follows the stored threshold
        if face.confidence is not None and face.confidence < 0.8:
            assert face.uncertain


def test_nothing_pending_loads_no_model(ws, tmp_path):
    """A job with nothing to do answers from the database: the analyzer is never built."""
    from brandmood.services.analyze import workspace_analyzer
    from db.queries.review import SettingKey, set_setting

    built = []

    def factory(ws, model=None):
        built.append(model)
        return workspace_analyzer(ws, model=model)

    ids = add_assets(ws, tmp_path)
    with ws.sessions.begin() as s:  # keep two photos: analysis stays short
        for name in ("multi_face.jpg", "corrupt.jpg", "single_face.mp4"):
            s.delete(s.get(Asset, ids.pop(name)))
    first = run_analysis(ws, make_analyzer=factory)
    assert (first.analyzed, built, first.models_loaded) == (2, [None], True)
    again = run_analysis(ws, make_analyzer=factory)
    assert built == [None] and not again.models_loaded  # nothing pending: no model loaded
    assert (again.run_id, again.resumed, again.skipped, again.items) == (
        first.run_id, True, 2, [])
    assert again.model == first.model
    with ws.session() as s:
        run = s.get(AnalysisRun, first.run_id)
        assert run.status is RunStatus.DONE and run.timings["jobs"] == 2
        assert (run.n_assets, run.n_faces) == (2, 1)

    with ws.sessions.begin() as s:  # a new asset is pending: the models load
        stored = ws.media.put_file(media_file("multi_face.jpg"))
        s.add(Asset(brand_id=s.get(Asset, ids["single_face.jpg"]).brand_id, source_uri="x",
                    sha256=stored.sha256, media_path=stored.relpath, kind=AssetKind.IMAGE))
    third = run_analysis(ws, make_analyzer=factory)
    assert (len(built), third.run_id, third.analyzed, third.models_loaded) == (
        2, first.run_id, 1, True)
    with ws.sessions.begin() as s:  # other settings: another run, so the models load
        set_setting(session=s, key=SettingKey.UNCERTAINTY_THRESHOLD, value="0.8")
    other = run_analysis(ws, make_analyzer=factory)
    assert len(built) == 3 and other.run_id != first.run_id and other.analyzed == 3
    assert run_analysis(ws, make_analyzer=factory, every_s=2.0).models_loaded  # new run
    assert len(built) == 4 and not run_analysis(ws, make_analyzer=factory).models_loaded
    with pytest.raises(NotFoundError):  # a wrong id fails before any model loads
        run_analysis(ws, asset_ids=[9999], make_analyzer=factory)
    assert len(built) == 4


def test_cli_says_nothing_to_analyze(ws_env):
    runner = CliRunner()
    first = runner.invoke(app, ["analyze", "--json"])  # empty workspace: learns the signature
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["analyze"])
    assert again.exit_code == 0, again.output
    assert "nothing to analyze (models not loaded)" in again.output
    data = json.loads(runner.invoke(app, ["analyze", "--json"]).stdout)
    assert data["models_loaded"] is False and data["run_id"] == json.loads(first.stdout)["run_id"]
