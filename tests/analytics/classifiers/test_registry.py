"""The registry: names, availability, and flip TTA around the default model."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from analytics.classifiers.onnx_model import PRESETS
from analytics.classifiers.registry import (
    DEFAULT_MODEL,
    ENSEMBLE_MODEL,
    ModelKind,
    UnknownModelError,
    available_models,
    get_classifier,
)
from analytics.classifiers.tta import FlipTTA


def test_default_model_is_available_and_loads() -> None:
    entries = {e.name: e for e in available_models()}
    assert DEFAULT_MODEL == "faceapi" and ENSEMBLE_MODEL == "fer+facex"
    assert next(iter(entries)) == DEFAULT_MODEL
    assert entries[DEFAULT_MODEL].available and entries[DEFAULT_MODEL].kind is ModelKind.WHEEL
    assert get_classifier(None).info.name == DEFAULT_MODEL
    for name in ("faceapi", "faceapi+fer", "fer+facex", "fer-mini-xception"):
        assert entries[name].available, entries[name].reason   # every model stays selectable


def test_shipped_calibration_wraps_the_raw_model(photo_faces) -> None:
    """The default model comes calibrated: a temperature map (T > 1 softens its answers)
    that keeps the top class and tags the version, so runs get a new signature."""
    from analytics.align import crop_faces
    from analytics.classifiers.calibrated import CalibratedClassifier

    raw, cal = get_classifier("faceapi", calibrated=False), get_classifier("faceapi")
    assert isinstance(cal, CalibratedClassifier) and not isinstance(raw, CalibratedClassifier)
    assert cal.calibration.kind == "temperature" and cal.calibration.temperature > 1
    assert cal.info.version == f"{raw.info.version}+{cal.calibration.tag}"
    assert cal.info.weights_sha256 != raw.info.weights_sha256
    crops = np.concatenate([crop_faces(img, det, raw.input_spec)
                            for img, det in photo_faces.values()])
    p_raw, p_cal = raw.predict(crops), cal.predict(crops)
    np.testing.assert_array_equal(np.nanargmax(p_raw, 1), np.nanargmax(p_cal, 1))
    assert (np.nanmax(p_cal, 1) <= np.nanmax(p_raw, 1) + 1e-6).all()
    t = cal.calibration.temperature
    z = np.log(np.clip(p_raw[:, :7].astype(np.float64), 1e-7, 1)) / t
    want = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(p_cal[:, :7], want / want.sum(1, keepdims=True), atol=1e-5)


def test_absent_onnx_weights_are_reported_not_fetched(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BRANDMOOD_CACHE", str(tmp_path))
    for preset in PRESETS.values():
        monkeypatch.delenv(preset.env_var, raising=False)
    entries = {e.name: e for e in available_models()}
    for name in ("onnx:hsemotion-enet-b0-8", "onnx:ferplus-8"):
        assert not entries[name].available
        assert "BRANDMOOD_ONNX_" in entries[name].reason
    assert not (tmp_path / "models").exists()


def test_unknown_names_are_refused() -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'vgg-face'"):
        get_classifier("vgg-face")


def test_flip_tta_averages_a_face_and_its_mirror(fer_clf, photo_crops) -> None:
    crops = np.concatenate(list(photo_crops.values()))
    tta = FlipTTA(fer_clf)
    assert tta.info.version.endswith("+flip") and tta.input_spec == fer_clf.input_spec
    expected = (fer_clf.predict(crops) + fer_clf.predict(crops[:, :, ::-1].copy())) / 2
    np.testing.assert_allclose(tta.predict(crops), expected, atol=1e-6)
    mirror = np.concatenate([crops[:, :, :32], crops[:, :, :32][:, :, ::-1]], axis=2)
    np.testing.assert_allclose(tta.predict(mirror), fer_clf.predict(mirror), atol=1e-5)


def test_facex_and_the_ensemble_are_registered_and_load() -> None:
    entries = {e.name: e for e in available_models()}
    assert entries["facex"].kind is ModelKind.WHEEL
    assert entries[ENSEMBLE_MODEL].kind is ModelKind.WHEEL
    if not entries["facex"].available:
        pytest.skip(f"facex cannot run here: {entries['facex'].reason}")
    assert entries[ENSEMBLE_MODEL].available and entries[ENSEMBLE_MODEL].reason == ""
    clf = get_classifier("facex", calibrated=False)
    assert (clf.info.name, clf.info.version, clf.input_spec.size) == ("facex", "1.1.0-float32", 200)
    assert get_classifier("facex").info.version.startswith("1.1.0-float32+")


def test_facex_without_runtime_or_wheel_says_why(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BRANDMOOD_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)   # as if not installed
    entries = {e.name: e for e in available_models()}
    facex, ens = entries["facex"], entries[ENSEMBLE_MODEL]
    assert not facex.available and not ens.available
    assert "pip install ai-edge-litert" in facex.reason
    assert "facex-1.1.0-py3-none-any.whl is not in" in facex.reason
    assert "brandmood fetch" in facex.reason
    assert ens.reason.count("facex:") == 1 and "fer-mini-xception:" in ens.reason
    assert not (tmp_path / "wheels").exists()           # nothing was fetched


def test_fetch_includes_the_facex_wheel() -> None:
    from brandmood.core.fetch import FACEX_WHEEL, WHEELS

    assert FACEX_WHEEL in WHEELS and FACEX_WHEEL.requirement == "facex==1.1.0"
