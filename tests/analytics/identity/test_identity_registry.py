"""The embedder registry: names, thresholds, loading by name, and no mixing of models."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.identity import (
    EMBEDDING_MODEL,
    Gallery,
    IdentityError,
    distances,
    match,
    match_tracks,
    vector_from_bytes,
    vector_to_bytes,
)
from analytics.identity_registry import (
    DEFAULT_EMBEDDER,
    EmbedderName,
    default_threshold,
    embedder_name,
    embedder_spec,
    get_embedder,
    resolve_threshold,
)
from brandmood.core.settings import load_config


def test_names_dims_and_thresholds():
    assert [e.value for e in EmbedderName] == ["dlib-resnet-v1", "facenet-vggface2"]
    assert DEFAULT_EMBEDDER is EmbedderName.DLIB and DEFAULT_EMBEDDER == EMBEDDING_MODEL
    assert load_config({}).embedder == DEFAULT_EMBEDDER
    assert load_config({"BRANDMOOD_EMBEDDER": "facenet-vggface2"}).embedder == "facenet-vggface2"
    assert (embedder_spec(None).dim, embedder_spec("facenet-vggface2").dim) == (128, 512)
    assert default_threshold("dlib-resnet-v1") == 0.35
    assert default_threshold(EmbedderName.FACENET) is None
    assert embedder_name(" facenet-vggface2 ") is EmbedderName.FACENET
    with pytest.raises(ValueError, match=r"unknown face embedder 'arcface' \(choose from: "
                                         r"dlib-resnet-v1, facenet-vggface2\)"):
        embedder_name("arcface")


def test_uncalibrated_embedder_needs_an_explicit_threshold():
    assert resolve_threshold("dlib-resnet-v1", None) == 0.35
    assert resolve_threshold("dlib-resnet-v1", 0.5) == 0.5
    assert resolve_threshold("facenet-vggface2", 0.9) == 0.9
    with pytest.raises(IdentityError) as err:
        resolve_threshold("facenet-vggface2", None)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("facenet-vggface2 has no calibrated distance "
                                              "threshold: pass one explicitly (--threshold)")
    with pytest.raises(ValueError, match="threshold must be > 0"):
        resolve_threshold("facenet-vggface2", 0.0)


def test_get_embedder_loads_each_model_once(embedder, facenet_env):
    assert get_embedder() is get_embedder("dlib-resnet-v1") is embedder
    fn = get_embedder("facenet-vggface2")
    assert fn is get_embedder(EmbedderName.FACENET)
    assert fn.info.name == "facenet-vggface2" and fn.info.version == "custom"
    assert fn.embed(np.zeros((40, 40, 3), np.uint8), np.array([[5, 5, 35, 35]])).shape == (1, 512)


def test_vectors_of_different_models_are_never_compared():
    rng = np.random.default_rng(0)
    dlib_gallery = Gallery.build([(1, rng.normal(size=128)), (2, rng.normal(size=128))])
    facenet_gallery = Gallery.build([(1, rng.normal(size=512))], dim=512)
    assert (dlib_gallery.dim, facenet_gallery.dim) == (128, 512)
    probe512 = rng.normal(size=(2, 512)).astype(np.float32)
    # 512 values would reshape into four 128-d rows: refused instead
    for call in (lambda: match(probe512, dlib_gallery),
                 lambda: match_tracks(probe512, np.array([0, 0]), dlib_gallery),
                 lambda: distances(probe512[:, :128], facenet_gallery),
                 lambda: Gallery.build([(1, probe512[0])])):
        with pytest.raises(ValueError, match="different embedders cannot be compared"):
            call()
    got = match(probe512, facenet_gallery, threshold=100.0)
    assert [m.ambassador_id for m in got] == [1, 1]
    want = np.linalg.norm(probe512[0] - facenet_gallery.vectors[0])
    assert got[0].distance == pytest.approx(want)
    assert match(probe512, Gallery.build([], dim=512))[0].ambassador_id is None
    data = vector_to_bytes(probe512[0], 512)
    assert len(data) == 2048 and np.array_equal(vector_from_bytes(data, 512), probe512[0])
    with pytest.raises(ValueError, match="expected 128"):
        vector_from_bytes(data)


class MeanColor:
    """A made-up 3-d embedder for the test: the mean RGB of each box, scaled by the file's
    number."""

    def __init__(self, weights, *, name: str) -> None:
        from brandmood.core.types import ModelInfo

        self.scale = float(np.load(weights))
        self.info = ModelInfo(name, "1")

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        b = np.asarray(boxes, int).reshape(-1, 4)
        return np.array([image[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0) * self.scale
                         for x1, y1, x2, y2 in b], np.float32).reshape(-1, 3)

    def embed_detections(self, image: np.ndarray, faces) -> np.ndarray:
        return self.embed(image, faces.boxes)


def test_an_embedder_registered_in_one_file_is_used_by_name(tmp_path, demo_faces):
    from analytics.identity import Embedder
    from analytics.identity_registry import (
        clear_embedders,
        embedder_names,
        register_embedder,
        unregister_embedder,
    )
    from analytics.weights import LocalFile

    np.save(tmp_path / "scale.npy", np.float32(0.5))
    name = "test-mean-color"
    register_embedder(name, dim=3, factory=MeanColor, description="mean colour (a test)",
                      weights={"weights": LocalFile(tmp_path / "scale.npy")},
                      options={"name": name})
    try:
        assert name in embedder_names() and embedder_names()[0] == DEFAULT_EMBEDDER
        assert embedder_name(f" {name} ") == name and embedder_spec(name).dim == 3
        with pytest.raises(IdentityError, match="no calibrated distance threshold"):
            resolve_threshold(name, None)
        emb = get_embedder(name)
        assert isinstance(emb, Embedder) and emb is get_embedder(name)
        image, faces = demo_faces["multi_face.jpg"]
        x1, y1, x2, y2 = faces.boxes[0].astype(int)
        want = image[y1:y2, x1:x2].astype(np.float64).mean(axis=(0, 1)) * 0.5
        np.testing.assert_allclose(emb.embed_detections(image, faces)[0], want, rtol=1e-5)
    finally:
        unregister_embedder(name)
        clear_embedders(name)
    with pytest.raises(ValueError, match="unknown face embedder"):
        embedder_name(name)
