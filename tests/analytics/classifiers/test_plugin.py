"""A classifier added in one file (this module), through the registry and the real pipeline.

``TinyBrightness`` is made up for the test: it reads one number from its weights file and
scores a face ``happy`` in proportion to the crop's mean brightness (``neutral`` the rest;
the other classes NaN). Its expected output is computed here from crops cut independently,
so the test checks that the registry hands the model its weights file, that the pipeline
cuts faces the way the model's ``input_spec`` says and that its answers reach the
``FaceDetections``. A second part installs a plug-in the way pip does (a ``.dist-info``
folder with an entry point on ``sys.path``) and finds it by name.
"""

from __future__ import annotations

import hashlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from analytics.align import crop_faces
from analytics.classifiers.base import ColorMode, InputSpec
from analytics.classifiers.registry import (
    ENTRY_POINT_GROUP,
    ModelKind,
    ModelUnavailableError,
    available_models,
    discover_plugins,
    get_classifier,
    model_kind,
    register_classifier,
    registered_names,
    unregister_classifier,
)
from analytics.detection import MTCNNDetector
from analytics.images import load_image
from analytics.pipeline import Analyzer
from analytics.weights import LocalFile
from brandmood.core.fetch import AssetError
from brandmood.core.types import EMOTIONS, Emotion, ModelInfo
from tests.conftest import media_file

NAME = "test-tiny-brightness"
HAPPY, NEUTRAL = EMOTIONS.index(Emotion.HAPPY), EMOTIONS.index(Emotion.NEUTRAL)


class TinyBrightness:
    """``P(happy) = gain · mean brightness / 255`` of a 32×32 gray crop; gain from the file."""

    input_spec = InputSpec(size=32, margin=0.1, color=ColorMode.GRAY)

    def __init__(self, weights: Path, *, version: str) -> None:
        self.gain = float(np.load(weights))
        self.info = ModelInfo(NAME, version, hashlib.sha256(weights.read_bytes()).hexdigest())
        self.batches: list[tuple[int, ...]] = []

    def predict(self, crops: np.ndarray) -> np.ndarray:
        self.batches.append(crops.shape)
        happy = crops.astype(np.float64).mean(axis=(1, 2, 3)) / 255 * self.gain
        out = np.full((len(crops), len(EMOTIONS)), np.nan, np.float32)
        out[:, HAPPY], out[:, NEUTRAL] = happy, 1 - happy
        return out


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "gain.npy"
    np.save(path, np.float32(0.75))
    return path


@pytest.fixture(scope="module")
def registered(weights) -> Iterator[str]:
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    register_classifier(NAME, description="mean brightness (a test model)",
                        factory=TinyBrightness, weights={"weights": LocalFile(weights, sha)},
                        options={"version": "3"})
    yield NAME
    unregister_classifier(NAME)


def test_registered_classifier_is_listed_and_loaded_by_name(registered, weights) -> None:
    entries = {e.name: e for e in available_models()}
    assert entries[NAME].available and entries[NAME].reason == ""
    assert entries[NAME].kind is ModelKind.PLUGIN and model_kind(NAME) is ModelKind.PLUGIN
    assert registered_names()[0] != NAME and NAME in registered_names()
    clf = get_classifier(NAME)
    assert isinstance(clf, TinyBrightness) and clf.gain == pytest.approx(0.75)
    assert clf.info == ModelInfo(NAME, "3", hashlib.sha256(weights.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="already registered"):
        register_classifier(NAME, description="again", factory=TinyBrightness)


def test_registered_classifier_runs_through_the_analysis_pipeline(registered) -> None:
    image = load_image(media_file("multi_face.jpg"))
    clf = get_classifier(NAME)
    faces = Analyzer(MTCNNDetector(), clf).analyze_images([image])[0]
    # independently: the same detector, crops cut by the model's own input spec
    found = MTCNNDetector().detect([image])[0]
    assert len(faces) == len(found) >= 5
    np.testing.assert_allclose(faces.boxes, found.boxes)
    crops = crop_faces(image, found, TinyBrightness.input_spec)
    want = crops.astype(np.float64).mean(axis=(1, 2, 3)) / 255 * 0.75
    np.testing.assert_allclose(faces.probs[:, HAPPY], want, atol=1e-6)
    np.testing.assert_allclose(faces.probs[:, NEUTRAL], 1 - want, atol=1e-6)
    others = [i for i in range(len(EMOTIONS)) if i not in (HAPPY, NEUTRAL)]
    assert np.isnan(faces.probs[:, others]).all()
    assert faces.classifier == clf.info
    assert clf.batches == [(len(found), 32, 32, 3)]


def test_a_missing_or_changed_weights_file_is_reported(tmp_path) -> None:
    path = tmp_path / "gain.npy"
    name = NAME + "-absent"
    register_classifier(name, description="x", factory=TinyBrightness,
                        weights={"weights": LocalFile(path, "0" * 64)}, options={"version": "1"})
    try:
        entry = next(e for e in available_models() if e.name == name)
        assert not entry.available and "does not exist" in entry.reason
        np.save(path, np.float32(1.0))
        with pytest.raises(AssetError, match="does not match the pinned"):
            get_classifier(name)
    finally:
        unregister_classifier(name)
    assert name not in registered_names()


PLUGIN_MODULE = '''
from pathlib import Path

import numpy as np

from analytics.classifiers.base import InputSpec
from analytics.classifiers.registry import register_classifier
from analytics.weights import LocalFile
from brandmood.core.types import ModelInfo


class Constant:
    input_spec = InputSpec(size=16)

    def __init__(self, weights: Path) -> None:
        self.value = np.load(weights).astype(np.float32)
        self.info = ModelInfo("test-ep-constant", "1")

    def predict(self, crops):
        return np.repeat(self.value[None], len(crops), axis=0)


register_classifier("test-ep-constant", description="from an installed package",
                    factory=Constant, weights={{"weights": LocalFile(Path({weights!r}))}})
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch) -> Iterator[Path]:
    """A package as pip installs it: two modules and a ``.dist-info`` with entry points."""
    value = np.full(len(EMOTIONS), np.nan, np.float32)
    value[HAPPY] = 1.0
    np.save(tmp_path / "constant.npy", value)
    (tmp_path / "bm_test_plugin.py").write_text(
        textwrap.dedent(PLUGIN_MODULE.format(weights=str(tmp_path / "constant.npy"))))
    (tmp_path / "bm_test_broken.py").write_text("raise RuntimeError('boom')\n")
    info = tmp_path / "bm_test_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bm-test-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ntest-ep-constant = bm_test_plugin\n"
        "test-ep-broken = bm_test_broken\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    unregister_classifier("test-ep-constant")
    for module in ("bm_test_plugin", "bm_test_broken"):
        sys.modules.pop(module, None)
    monkeypatch.undo()
    assert discover_plugins() == {}


def test_entry_point_plugins_are_found_and_broken_ones_reported(installed_plugin) -> None:
    failed = discover_plugins()
    assert set(failed) == {"test-ep-broken"} and "RuntimeError: boom" in failed["test-ep-broken"]
    entries = {e.name: e for e in available_models()}
    assert entries["test-ep-constant"].available
    assert not entries["test-ep-broken"].available
    assert "could not be loaded" in entries["test-ep-broken"].reason
    probs = get_classifier("test-ep-constant").predict(np.zeros((2, 16, 16, 3), np.uint8))
    assert probs.shape == (2, 8) and (probs[:, HAPPY] == 1.0).all()
    with pytest.raises(ModelUnavailableError, match="boom"):
        get_classifier("test-ep-broken")
