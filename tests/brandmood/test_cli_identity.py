"""``brandmood ambassador …``, ``brandmood finetune`` and ``brandmood train`` through Typer."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.core.settings import load_config
from db.models import AmbassadorReference, Face, FaceEmbedding, ModelVersion
from db.workspace import open_workspace
from tests.conftest import media_file

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def frames():
    from analytics.video import iter_frames

    return [f.image for f in iter_frames(media_file("single_face.mp4"), every_s=1.0)]


def test_commands_have_help():
    for args in (["ambassador", "enroll", "--help"], ["ambassador", "match", "--help"],
                 ["ambassador", "list", "--help"], ["ambassador", "review", "--help"],
                 ["finetune", "--help"], ["train", "--help"]):
        result = invoke(*args)
        assert result.exit_code == 0, args
        assert "Usage" in result.output


CONSENT = ("--consent-by", "Ana", "--consent-basis", "contract 2026-014 §7",
           "--consent-date", "2026-11-30")


def test_enroll_list_match_review(ws_env, tmp_path, frames):
    from brandmood.services.analyze import run_analysis
    from ingest.files import FileSource
    from ingest.jobs import run_source

    assert invoke("init", "--brand", "Acme").exit_code == 0
    ws = open_workspace(load_config())
    try:
        assert run_source(ws, FileSource([media_file("single_face.mp4"),
                                          media_file("multi_face.jpg")]), brand="Acme").stored == 2
        run_analysis(ws)
    finally:
        ws.close()
    ref = tmp_path / "ana.jpg"
    Image.fromarray(frames[0]).save(ref)

    result = invoke("ambassador", "enroll", "--brand", "Acme", "--name", "Ana", ref)
    assert result.exit_code == 2 and "enrolment refused" in result.output
    assert "consent" in result.output
    result = invoke("ambassador", "enroll", "--brand", "Acme", "--name", "Ana", ref,
                    *CONSENT)
    assert result.exit_code == 0, result.output
    assert "1 reference face(s) added" in result.output
    result = invoke("ambassador", "list", "--brand", "Acme")
    assert "Ana" in result.output and "references[dlib-resnet-v1]=1" in result.output

    result = invoke("ambassador", "match", "--brand", "Acme")
    assert result.exit_code == 0, result.output
    ws = open_workspace(load_config())
    with ws.session() as s:
        matched = s.scalars(select(Face).where(Face.ambassador_id.is_not(None))).all()
        unknown = s.scalars(select(Face).where(Face.ambassador_id.is_(None))).all()
    ws.close()
    assert matched and len(unknown) >= 3
    assert f"{len(matched)} matched" in result.output

    result = invoke("ambassador", "review", matched[0].id, "--reject")
    assert result.exit_code == 0 and "rejected" in result.output
    result = invoke("ambassador", "review", unknown[0].id, "--as", "Ana")
    assert result.exit_code == 0 and "confirmed" in result.output
    assert "matched=" in invoke("ambassador", "list", "--brand", "Acme").output
    reviews = [json.loads(line) for line in
               invoke("audit", "list", "--json", "--action", "review").output.splitlines()]
    assert [(e["object"], e["brand"], e["details"]["ambassador_match"]) for e in reviews] == [
        (f"face:{unknown[0].id}", "Acme", "reassigned"),
        (f"face:{matched[0].id}", "Acme", "rejected")]


def test_user_errors_are_one_line(ws_env, tmp_path):
    assert invoke("init", "--brand", "Acme").exit_code == 0
    result = invoke("ambassador", "enroll", "--brand", "Nope", "--name", "X",
                    media_file("0-f1-su-ph.jpg"), *CONSENT)
    assert result.exit_code == 2 and "unknown brand" in result.output
    result = invoke("ambassador", "enroll", "--brand", "Acme", "--name", "X",
                    media_file("free-mountain-vector-01.jpg"), *CONSENT)
    assert result.exit_code == 2 and "no face found" in result.output
    result = invoke("ambassador", "enroll", "--brand", "Acme", "--name", "X",
                    tmp_path / "missing.jpg")
    assert result.exit_code == 2 and "no such file" in result.output
    result = invoke("ambassador", "match", "--brand", "Acme", "--threshold", "0")
    assert result.exit_code == 2 and "threshold" in result.output
    result = invoke("finetune")
    assert result.exit_code == 2 and "no reviewed faces" in result.output
    result = invoke("train", "--data", tmp_path / "none", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "no such folder" in result.output


def test_train_records_the_version_with_its_metrics(ws_env, tmp_path):
    from analytics.detection import MTCNNDetector
    from tests.analytics.identity.test_train_resnet import tiny_folder

    data = tiny_folder(tmp_path / "data", MTCNNDetector())
    result = invoke("train", "--arch", "resnet50", "--data", data, "--out", tmp_path / "out",
                    "--epochs", "1", "--batch-size", "8", "--input-size", "64",
                    "--no-pretrained", "--name", "tiny")
    assert result.exit_code == 0, result.output
    assert "init random" in result.output and "registered model version" in result.output
    ws = open_workspace(load_config())
    with ws.session() as s:
        row = s.scalar(select(ModelVersion))
    ws.close()
    assert (row.name, row.version, row.base_model) == ("tiny", "1", "random-init")
    assert 0.0 <= row.metrics["val_accuracy"] <= 1.0 and row.metrics["epochs_run"] == 1
    manifest = json.loads((tmp_path / "out" / "tiny-1.json").read_text())
    assert manifest["weights_sha256"] == row.weights_sha256


def test_embedder_option_keeps_models_apart(ws_env, tmp_path, frames, monkeypatch):
    from analytics.identity_registry import clear_embedders
    from brandmood.services.analyze import run_analysis
    from ingest.files import FileSource
    from ingest.jobs import run_source
    from tests.analytics.identity.conftest import save_random_facenet

    monkeypatch.setenv("BRANDMOOD_FACENET_WEIGHTS",
                       str(save_random_facenet(tmp_path / "facenet.pt")))
    clear_embedders()
    try:
        _embedder_option(tmp_path, frames, run_source, FileSource, run_analysis, monkeypatch)
    finally:
        clear_embedders()


def _embedder_option(tmp_path, frames, run_source, FileSource, run_analysis,
                     monkeypatch) -> None:
    assert invoke("init", "--brand", "Acme").exit_code == 0
    ws = open_workspace(load_config())
    try:
        assert run_source(ws, FileSource([media_file("multi_face.jpg")]), brand="Acme").stored == 1
        run_analysis(ws)
    finally:
        ws.close()
    ref = tmp_path / "ana.jpg"
    Image.fromarray(frames[0]).save(ref)
    result = invoke("ambassador", "enroll", "--brand", "Acme", "--name", "Ana", ref,
                    "--embedder", "facenet-vggface2", *CONSENT)
    assert result.exit_code == 0, result.output
    assert "1 reference face(s) added" in result.output and "facenet-vggface2" in result.output
    result = invoke("ambassador", "match", "--brand", "Acme", "--embedder", "facenet-vggface2")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: facenet-vggface2 has no calibrated distance threshold: pass one explicitly "
        "(--threshold), calibrated on your data as benchmarks/identity.py does"]
    monkeypatch.setenv("BRANDMOOD_EMBEDDER", "facenet-vggface2")
    result = invoke("ambassador", "match", "--brand", "Acme")
    assert result.exit_code == 2 and "no calibrated distance threshold" in result.output
    result = invoke("ambassador", "match", "--brand", "Acme", "--threshold", "2.5")
    assert result.exit_code == 0, result.output
    assert "(facenet-vggface2, threshold 2.500)" in result.output
    ws = open_workspace(load_config())
    with ws.session() as s:
        faces = s.scalars(select(Face)).all()
        models = {(e.model, len(e.vector)) for e in s.scalars(select(FaceEmbedding))}
        refs = {(r.model, len(r.vector)) for r in s.scalars(select(AmbassadorReference))}
    ws.close()
    assert len(faces) >= 3 and all(f.ambassador_id is not None for f in faces)
    assert models == refs == {("facenet-vggface2", 2048)}
    # dlib (by option, over the env var) has no references: every face is unknown
    result = invoke("ambassador", "match", "--brand", "Acme", "--embedder", "dlib-resnet-v1")
    assert result.exit_code == 0, result.output
    assert f"0 matched, {len(faces)} unknown" in result.output
    assert "(dlib-resnet-v1, threshold 0.350)" in result.output
    result = invoke("ambassador", "match", "--brand", "Acme", "--embedder", "arcface")
    assert result.exit_code == 2 and "unknown face embedder 'arcface'" in result.output
