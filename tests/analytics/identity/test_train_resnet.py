"""ResNet-50 training end to end on the CPU on a tiny folder (2 epochs, 16 images, 64 px)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analytics.classifiers.manifest import ManifestError
from analytics.classifiers.registry import get_classifier
from analytics.train_resnet import TrainConfig, train_resnet
from brandmood.core.types import EMOTIONS
from tests.analytics.identity.conftest import MADE_UP_LABELS, jittered_crops
from tests.conftest import media_file


def tiny_folder(root: Path, detector, per_face: int = 4) -> Path:
    """``label/*.jpg``: ``per_face`` augmented crops of four real labelled faces."""
    from analytics.images import load_image

    for k, name in enumerate(list(MADE_UP_LABELS)[:4]):
        img = load_image(media_file(name))
        crops = jittered_crops(img, detector.detect([img])[0], per_face, seed=k, size=80)
        folder = root / MADE_UP_LABELS[name]
        folder.mkdir(parents=True, exist_ok=True)
        for j, crop in enumerate(crops):
            Image.fromarray(crop).save(folder / f"p{k}-{j}.jpg")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, detector):
    data = tiny_folder(tmp_path_factory.mktemp("tiny"), detector)
    out = tmp_path_factory.mktemp("model")
    cfg = TrainConfig(epochs=2, batch_size=8, input_size=64, pretrained=False, patience=2)
    return train_resnet(data, out, cfg, name="tiny", version="3"), data


def test_resnet_trains_end_to_end_and_loads_through_the_registry(trained):
    report, data = trained
    assert report.init.startswith("random")
    assert report.epochs_run == 2 and report.n_train + report.n_val == 16
    assert 0.0 <= report.val_accuracy <= 1.0
    manifest = json.loads(report.manifest.read_text())
    assert manifest["arch"] == "resnet50" and manifest["input_size"] == 64
    assert manifest["labels"] == [e.value for e in EMOTIONS]
    assert manifest["weights"] == report.weights.name and len(manifest["weights_sha256"]) == 64
    clf = get_classifier(str(report.manifest))
    crops = np.stack([np.asarray(Image.open(p).convert("RGB").resize((64, 64)))
                      for p in sorted(data.glob("*/*.jpg"))[:3]])
    probs = clf.predict(crops)
    assert probs.shape == (3, 8) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_registry_refuses_a_resnet_manifest_that_does_not_match(trained, tmp_path):
    report, _ = trained
    data = json.loads(report.manifest.read_text())
    bad = dict(data, labels=data["labels"][:7],
               weights=str(report.weights))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ManifestError, match="labels"):
        get_classifier(str(path))
    path.write_text(json.dumps(dict(data, weights=str(report.weights),
                                    weights_sha256="f" * 64)))
    with pytest.raises(ManifestError, match="sha256"):
        get_classifier(str(path))


def test_bad_folders_and_settings_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        train_resnet(tmp_path / "missing", tmp_path / "out", TrainConfig(pretrained=False))
    (tmp_path / "joy").mkdir()
    with pytest.raises(ValueError, match="unknown emotion"):
        train_resnet(tmp_path, tmp_path / "out", TrainConfig(pretrained=False))
    with pytest.raises(ValueError):
        TrainConfig(input_size=8)
