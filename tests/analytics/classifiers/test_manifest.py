"""Manifest validation and the shared preprocessing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analytics.classifiers.base import ColorMode
from analytics.classifiers.manifest import (
    Arch,
    Layout,
    ManifestError,
    OutputKind,
    load_manifest,
    manifest_from_dict,
    preprocess,
    to_emotions,
)
from brandmood.core.types import EMOTIONS, Emotion

BASE = {"arch": "resnet50", "labels": ["neutral", "happy", "sad", "surprise", "fear", "anger",
                                       "disgust", "contempt"],
        "input_size": 8, "color": "rgb", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.25, 1.0],
        "weights": "w.pt", "name": "m", "version": "1"}


def test_valid_manifest_and_relative_weights(tmp_path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(BASE | {"labels": ["Happiness", "angry", "neutral"]}))
    m = load_manifest(path)
    assert m.arch is Arch.RESNET50 and m.color is ColorMode.RGB and m.layout is Layout.NCHW
    assert m.labels == (Emotion.HAPPY, Emotion.ANGER, Emotion.NEUTRAL)
    assert m.weights == (tmp_path / "w.pt").resolve()
    assert m.output is OutputKind.LOGITS and m.input_spec.size == 8


@pytest.mark.parametrize(("change", "message"), [
    ({"arch": "vgg"}, "'arch' is 'vgg'"),
    ({"labels": ["happy", "joy"]}, "unknown emotion label 'joy'"),
    ({"labels": ["happy", "happiness"]}, "distinct"),
    ({"mean": [0.5, 0.5]}, "'mean' needs 3 values"),
    ({"std": [0.5, 0, 1]}, "positive"),
    ({"weights_sha256": "xyz"}, "not a hex sha256"),
    ({"input_size": 2}, "outside"),
    ({"input_size": "224"}, "wrong type"),
    ({"layout": "chwn"}, "'layout'"),
])
def test_invalid_manifests_name_the_problem(tmp_path, change, message) -> None:
    with pytest.raises(ManifestError, match=message):
        manifest_from_dict(BASE | change, tmp_path)


def test_missing_key_and_bad_json(tmp_path) -> None:
    with pytest.raises(ManifestError, match="missing key 'weights'"):
        manifest_from_dict({k: v for k, v in BASE.items() if k != "weights"}, tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match="not a readable JSON"):
        load_manifest(bad)
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "nope.json")


def test_preprocess_rgb_and_gray_exact(tmp_path) -> None:
    crops = np.zeros((1, 8, 8, 3), np.uint8)
    crops[..., 0], crops[..., 1], crops[..., 2] = 255, 0, 51
    m = manifest_from_dict(BASE, tmp_path)
    x = preprocess(crops, m)
    assert x.shape == (1, 3, 8, 8)
    np.testing.assert_allclose(x[0, :, 0, 0], [(1 - 0.5) / 0.5, (0 - 0.5) / 0.25, 0.2 - 0.5],
                               atol=1e-6)
    g = manifest_from_dict(BASE | {"color": "gray", "mean": [0.0], "std": [1.0],
                                   "input_scale": 1, "layout": "nhwc"}, tmp_path)
    xg = preprocess(crops, g)
    assert xg.shape == (1, 8, 8, 1)
    assert xg[0, 0, 0, 0] == round(0.299 * 255 + 0.114 * 51)  # 76.245 + 5.814 -> 82


def test_to_emotions_softmax_or_probs(tmp_path) -> None:
    m = manifest_from_dict(BASE | {"labels": ["sad", "happy"]}, tmp_path)
    p = to_emotions(np.array([[0.0, np.log(3.0)]]), m)
    assert p[0, EMOTIONS.index(Emotion.SAD)] == pytest.approx(0.25)
    assert p[0, EMOTIONS.index(Emotion.HAPPY)] == pytest.approx(0.75)
    assert np.isnan(p[0, EMOTIONS.index(Emotion.NEUTRAL)])
    probs = manifest_from_dict(BASE | {"labels": ["sad", "happy"], "output": "probs"}, tmp_path)
    assert to_emotions(np.array([[0.4, 0.6]]), probs)[0, EMOTIONS.index(Emotion.SAD)] == \
        pytest.approx(0.4)
    with pytest.raises(ManifestError, match="3 outputs"):
        to_emotions(np.zeros((1, 3)), m)


def test_fer_adapted_defaults_to_the_base_models_tight_crop(tmp_path) -> None:
    gray = BASE | {"arch": "fer-adapted", "color": "gray", "mean": [0.5], "std": [0.5],
                   "input_size": 64, "base_model": "fer-mini-xception"}
    assert manifest_from_dict(gray, tmp_path).input_spec.margin == 0.0
    assert manifest_from_dict(BASE, tmp_path).input_spec.margin == 0.2
    assert manifest_from_dict(gray | {"margin": 0.1}, tmp_path).input_spec.margin == 0.1
