"""The ONNX adapter on small models the tests build themselves, and weight location/download."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from analytics.classifiers import onnx_model
from analytics.classifiers.manifest import ManifestError
from analytics.classifiers.onnx_model import PRESETS, OnnxClassifier, OnnxPreset
from analytics.classifiers.registry import (
    ModelUnavailableError,
    get_classifier,
    onnx_manifest,
    preset_source,
)
from analytics.weights import env_override, locate
from brandmood.core.types import EMOTIONS, Emotion
from tests.conftest import OneFileServer

LABELS = ["anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
RNG = np.random.default_rng(0)
W = RNG.normal(size=(3, 8)).astype(np.float32) * 4
B = RNG.normal(size=(8,)).astype(np.float32)


def save_linear_model(path: Path, *, channels: int = 3, size: int = 16, nhwc: bool = False,
                      k: int = 8) -> Path:
    """x (n,C,S,S) or (n,S,S,C) → channel means → (n,C) @ W[:C, :k] + B[:k] → logits (n,k)."""
    shape = ["n", size, size, channels] if nhwc else ["n", channels, size, size]
    axes = [1, 2] if nhwc else [2, 3]
    nodes = [
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=0),
        helper.make_node("MatMul", ["m", "w"], ["mw"]),
        helper.make_node("Add", ["mw", "b"], ["logits"]),
    ]
    inits = [numpy_helper.from_array(np.array(axes, np.int64), "axes"),
             numpy_helper.from_array(W[:channels, :k].copy(), "w"),
             numpy_helper.from_array(B[:k].copy(), "b")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", k])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def write_manifest(onnx_path: Path, **overrides) -> Path:
    data = {"arch": "onnx", "labels": LABELS, "input_size": 16, "color": "rgb",
            "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.5], "weights": onnx_path.name,
            "name": "tiny", "version": "0"} | overrides
    path = onnx_path.with_suffix(".json")
    path.write_text(json.dumps(data))
    return path


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _crops(n: int = 4, size: int = 16) -> np.ndarray:
    return RNG.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def test_rgb_nchw_model_reorders_labels(tmp_path) -> None:
    path = save_linear_model(tmp_path / "tiny.onnx")
    write_manifest(path)
    clf = get_classifier(f"onnx:{path}")
    crops = _crops()
    probs = clf.predict(crops)
    x = (crops.astype(np.float64) / 255 - [0.5, 0.4, 0.3]) / [0.2, 0.25, 0.5]
    expected = _softmax(x.mean(axis=(1, 2)) @ W + B)  # in the model's label order
    assert probs.shape == (4, 8)
    for j, name in enumerate(LABELS):
        np.testing.assert_allclose(probs[:, EMOTIONS.index(Emotion.parse(name))],
                                   expected[:, j], atol=1e-5)
    assert clf.info.name == "tiny" and clf.input_spec.size == 16


def test_gray_nhwc_raw_pixels_seven_labels(tmp_path) -> None:
    path = save_linear_model(tmp_path / "gray.onnx", channels=1, nhwc=True, k=7)
    labels7 = [x for x in LABELS if x != "contempt"]
    write_manifest(path, labels=labels7, color="gray", mean=[0], std=[1], input_scale=1,
                   layout="nhwc")
    crops = _crops(size=16)
    probs = get_classifier(str(path.with_suffix(".json"))).predict(crops)
    gray = np.round(crops.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    expected = _softmax(gray.mean(axis=(1, 2))[:, None] @ W[:1, :7] + B[:7])
    assert np.isnan(probs[:, EMOTIONS.index(Emotion.CONTEMPT)]).all()
    for j, name in enumerate(labels7):
        np.testing.assert_allclose(probs[:, EMOTIONS.index(Emotion.parse(name))],
                                   expected[:, j], atol=1e-4)


def test_crops_of_another_size_are_resized(tmp_path) -> None:
    path = save_linear_model(tmp_path / "tiny.onnx")
    write_manifest(path)
    clf = get_classifier(f"onnx:{path}")
    flat = np.full((2, 40, 40, 3), 77, np.uint8)
    np.testing.assert_allclose(clf.predict(flat), clf.predict(np.full((2, 16, 16, 3), 77,
                                                                      np.uint8)), atol=1e-6)


def test_mismatched_manifest_is_refused(tmp_path) -> None:
    path = save_linear_model(tmp_path / "tiny.onnx")
    write_manifest(path, input_size=32)
    with pytest.raises(ManifestError, match="input has shape"):
        get_classifier(f"onnx:{path}")
    write_manifest(path, labels=LABELS[:7])
    with pytest.raises(ManifestError, match="8 outputs but the manifest lists 7"):
        get_classifier(f"onnx:{path}").predict(_crops())
    write_manifest(path, weights_sha256="0" * 64)
    with pytest.raises(ManifestError, match="sha256"):
        get_classifier(f"onnx:{path}")


def test_unknown_onnx_file_without_manifest(tmp_path) -> None:
    path = save_linear_model(tmp_path / "anonymous.onnx")
    with pytest.raises(ManifestError, match="no manifest"):
        get_classifier(f"onnx:{path}")


def locate_preset(preset: OnnxPreset, *, download: bool = True) -> Path:
    """Where the registry finds a preset's file (env var, cache, download)."""
    src = preset_source(preset)
    return locate(src, download=download, override=env_override(src))


@pytest.fixture
def clean_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("BRANDMOOD_CACHE", str(cache))
    for preset in PRESETS.values():
        monkeypatch.delenv(preset.env_var, raising=False)
    return cache


def _tiny_preset(tmp_path: Path, url: str, sha256: str):
    base = PRESETS["hsemotion-enet-b0-8"]
    manifest = replace(base.manifest, input_size=16, name="tiny-preset", weights_sha256=sha256)
    return replace(base, name="tiny-preset", filename="tiny-preset.onnx", url=url,
                   sha256=sha256, manifest=manifest)


def test_preset_downloads_verified_file_once(tmp_path, clean_cache, monkeypatch) -> None:
    body = save_linear_model(tmp_path / "src.onnx").read_bytes()
    server = OneFileServer(body, "model.onnx")
    try:
        preset = _tiny_preset(tmp_path, server.url, hashlib.sha256(body).hexdigest())
        monkeypatch.setitem(onnx_model.PRESETS, preset.name, preset)
        with pytest.raises(ModelUnavailableError, match="weights not found"):
            locate_preset(preset, download=False)
        clf = OnnxClassifier(onnx_manifest("tiny-preset"))
        assert clf.predict(_crops()).shape == (4, 8)
        assert (clean_cache / "models" / "tiny-preset.onnx").read_bytes() == body
    finally:
        server.close()


def test_preset_with_wrong_or_unknown_hash_is_not_used(tmp_path, clean_cache) -> None:
    body = save_linear_model(tmp_path / "src.onnx").read_bytes()
    server = OneFileServer(body, "model.onnx")
    try:
        bad = _tiny_preset(tmp_path, server.url, "f" * 64)
        with pytest.raises(ModelUnavailableError, match="does not match"):
            locate_preset(bad)
        unknown = _tiny_preset(tmp_path, server.url, "")
        with pytest.raises(ModelUnavailableError, match="not downloaded unverified"):
            locate_preset(unknown)
        assert not (clean_cache / "models" / "tiny-preset.onnx").exists()
    finally:
        server.close()


def test_network_refusal_is_a_clear_error(tmp_path, clean_cache) -> None:
    preset = _tiny_preset(tmp_path, "http://127.0.0.1:9/model.onnx", "a" * 64)
    with pytest.raises(ModelUnavailableError,
                       match=r"cannot download .*BRANDMOOD_ONNX_TINY_PRESET"):
        locate_preset(preset)


def test_env_var_points_at_the_file(tmp_path, clean_cache, monkeypatch) -> None:
    path = save_linear_model(tmp_path / "mine.onnx")
    preset = _tiny_preset(tmp_path, "http://127.0.0.1:9/x", "")
    monkeypatch.setenv(preset.env_var, str(path))
    assert locate_preset(preset) == path
    monkeypatch.setenv(preset.env_var, str(tmp_path / "missing.onnx"))
    with pytest.raises(ModelUnavailableError, match="is not a file"):
        locate_preset(preset)
