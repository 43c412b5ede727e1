"""ResNet-50 checkpoints with a manifest: loading, label order, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from analytics.classifiers.manifest import ManifestError
from analytics.classifiers.registry import get_classifier
from analytics.classifiers.resnet import build_resnet50
from brandmood.core.fetch import sha256_file
from brandmood.core.types import EMOTIONS, Emotion

ORDER = ["surprise", "neutral", "happy", "sad", "fear", "anger", "disgust", "contempt"]
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    """A randomly initialised 8-way ResNet-50 saved as a state dict (made once)."""
    torch.manual_seed(0)
    model = build_resnet50(8).eval()
    path = tmp_path_factory.mktemp("resnet") / "model.pt"
    torch.save(model.state_dict(), path)
    return path, model


def _manifest(ckpt: Path, **overrides) -> Path:
    data = {"arch": "resnet50", "labels": ORDER, "input_size": 64, "color": "rgb",
            "mean": MEAN, "std": STD, "weights": ckpt.name,
            "weights_sha256": sha256_file(ckpt), "name": "team-resnet", "version": "3"}
    path = ckpt.parent / f"manifest-{abs(hash(json.dumps(overrides)))}.json"
    path.write_text(json.dumps(data | overrides))
    return path


def test_loads_and_matches_the_model_with_labels_reordered(checkpoint) -> None:
    ckpt, model = checkpoint
    clf = get_classifier(str(_manifest(ckpt)))
    assert clf.info.name == "team-resnet" and clf.info.version == "3"
    assert clf.input_spec.size == 64
    crops = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    probs = clf.predict(crops)
    x = (crops.astype(np.float32) / 255 - np.float32(MEAN)) / np.float32(STD)
    with torch.inference_mode():
        ref = torch.softmax(model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())), 1).numpy()
    assert probs.shape == (3, 8)
    for j, name in enumerate(ORDER):
        np.testing.assert_allclose(probs[:, EMOTIONS.index(Emotion(name))], ref[:, j],
                                   atol=1e-5)


def test_refuses_label_count_that_does_not_fit_the_head(checkpoint) -> None:
    ckpt, _ = checkpoint
    with pytest.raises(ManifestError, match="head has 8 outputs but the manifest lists 7"):
        get_classifier(str(_manifest(ckpt, labels=ORDER[:7])))


def test_refuses_sha256_mismatch(checkpoint) -> None:
    ckpt, _ = checkpoint
    with pytest.raises(ManifestError, match="sha256"):
        get_classifier(str(_manifest(ckpt, weights_sha256="1" * 64)))


def test_refuses_a_checkpoint_of_another_architecture(tmp_path) -> None:
    bad = tmp_path / "small.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 8)).state_dict(), bad)
    with pytest.raises(ManifestError, match=r"no fc\.weight head"):
        get_classifier(str(_manifest(bad)))
    other = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(8, 2048), "fc.bias": torch.zeros(8)}, other)
    with pytest.raises(ManifestError, match="does not fit resnet50"):
        get_classifier(str(_manifest(other)))


def test_refuses_gray_and_missing_weights(checkpoint, tmp_path) -> None:
    ckpt, _ = checkpoint
    with pytest.raises(ManifestError, match="rgb"):
        get_classifier(str(_manifest(ckpt, color="gray", mean=[0.5], std=[0.5])))
    with pytest.raises(ManifestError, match="does not exist"):
        get_classifier(str(_manifest(ckpt, weights=str(tmp_path / "gone.pt"))))
