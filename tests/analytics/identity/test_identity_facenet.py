"""The optional facenet (InceptionResnetV1) embedder: weights handling and embeddings.

The real VGGFace2 weights are not shipped and cannot be downloaded here, so the model is a
randomly initialised InceptionResnetV1 saved as a state_dict; the publisher is a local HTTP
server. What is checked is the loading, cropping, batching, normalisation and the sha256
refusals, not recognition quality.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analytics.identity import Embedder, IdentityError
from analytics.identity_facenet import (
    EMBEDDING_DIM,
    VGGFACE2,
    WEIGHTS_ENV,
    FacenetEmbedder,
    facenet_crops,
)
from analytics.identity_registry import embedder_spec, embedder_weights
from analytics.weights import env_override, locate
from brandmood.core.fetch import AssetError
from tests.conftest import OneFileServer


@pytest.fixture(scope="module")
def facenet(random_weights) -> FacenetEmbedder:
    return FacenetEmbedder(random_weights, sha256=_sha(random_weights))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def facenet_weights_path(*, cache: Path, download: bool = True, url: str = VGGFACE2.url,
                         sha256: str = VGGFACE2.sha256) -> Path:
    """Where the registry finds facenet's registered file, published at ``url``/``sha256``."""
    src = replace(embedder_spec("facenet-vggface2").weights["weights"], url=url, sha256=sha256)
    return locate(src, download=download, override=env_override(src), cache=cache)


def test_embeds_real_faces_as_unit_512d_vectors(facenet, random_weights, demo_faces):
    image, faces = demo_faces["multi_face.jpg"]
    assert len(faces) >= 5
    vecs = facenet.embed(image, faces.boxes)
    assert vecs.shape == (len(faces), EMBEDDING_DIM) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(vecs).all()
    # eval mode, batch-independent: each face alone gives the same vector as in the batch
    for i in (0, len(faces) - 1):
        np.testing.assert_allclose(facenet.embed(image, faces.boxes[i:i + 1])[0], vecs[i],
                                   atol=1e-6)
    assert np.array_equal(facenet.embed_detections(image, faces), vecs)
    apart = np.linalg.norm(vecs[:, None] - vecs[None], axis=2)
    # different faces, different vectors (a random network puts them close, not equal)
    assert (apart[~np.eye(len(vecs), dtype=bool)] > 1e-3).all()
    assert facenet.embed(image, np.zeros((0, 4))).shape == (0, EMBEDDING_DIM)
    assert facenet.info.name == "facenet-vggface2" and facenet.info.version == "custom"
    assert facenet.info.weights_sha256 == _sha(random_weights)
    assert isinstance(facenet, Embedder)


def test_crops_are_160_square_and_standardized_like_facenet(facenet, demo_faces):
    import torch

    image, faces = demo_faces["0-f1-su-ph.jpg"]
    crops = facenet_crops(image, faces.boxes)
    assert crops.shape == (len(faces), 160, 160, 3) and crops.dtype == np.uint8
    from facenet_pytorch import fixed_image_standardization

    x = fixed_image_standardization(torch.from_numpy(crops).permute(0, 3, 1, 2).float())
    with torch.inference_mode():
        ref = facenet._net(x).numpy()
    np.testing.assert_allclose(facenet.embed(image, faces.boxes), ref, atol=1e-5)


def test_bad_inputs_are_refused(facenet, demo_faces):
    image, faces = demo_faces["0-f1-su-ph.jpg"]
    with pytest.raises(IdentityError, match="uint8"):
        facenet.embed(image.astype(np.float32), faces.boxes)
    with pytest.raises(IdentityError, match=r"\(n, 4\)"):
        facenet.embed(image, np.ones((2, 3)))


def test_wrong_sha256_or_wrong_file_is_refused(random_weights, tmp_path):
    with pytest.raises(AssetError, match="does not match"):
        FacenetEmbedder(random_weights, sha256="0" * 64)
    import torch

    other = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(3)}, other)
    with pytest.raises(AssetError, match="not InceptionResnetV1 weights"):
        FacenetEmbedder(other)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(AssetError, match="not a PyTorch state_dict"):
        FacenetEmbedder(junk)


def test_env_var_supplies_the_file(random_weights, tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(random_weights))
    monkeypatch.setenv("BRANDMOOD_CACHE", str(tmp_path / "cache"))
    paths = embedder_weights("facenet-vggface2", download=False)
    assert paths == {"weights": random_weights}
    emb = FacenetEmbedder(paths["weights"])
    assert emb.info.weights_sha256 == _sha(random_weights) and emb.info.version == "custom"
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "missing.pt"))
    with pytest.raises(AssetError, match="is not a file"):
        embedder_weights("facenet-vggface2")
    assert not (tmp_path / "cache" / "models").exists()


def test_download_is_verified_and_cached(random_weights, tmp_path, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    cache = tmp_path / "cache"
    body = random_weights.read_bytes()
    server = OneFileServer(body, VGGFACE2.filename)
    try:
        with pytest.raises(AssetError, match=r"weights not found.*BRANDMOOD_FACENET_WEIGHTS"):
            facenet_weights_path(cache=cache, download=False, url=server.url)
        with pytest.raises(AssetError, match="does not match the pinned"):
            facenet_weights_path(cache=cache, url=server.url, sha256="f" * 64)
        assert not list((cache / "models").iterdir())  # nothing half-written is kept
        sha = hashlib.sha256(body).hexdigest()
        path = facenet_weights_path(cache=cache, url=server.url, sha256=sha)
        assert path == cache / "models" / VGGFACE2.filename and path.read_bytes() == body
        assert server.hits == 2
        assert facenet_weights_path(cache=cache, url=server.url, sha256=sha) == path
        assert server.hits == 2  # cached: no second download
        with pytest.raises(AssetError, match="does not match"):  # the pin is checked
            facenet_weights_path(cache=cache, url=server.url)
    finally:
        server.close()


def test_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(AssetError, match=r"cannot download http://127\.0\.0\.1:9/.*put "
                                         r"20180402-114759-vggface2\.pt in .*BRANDMOOD_FACENET"):
        facenet_weights_path(cache=tmp_path, url="http://127.0.0.1:9/x.pt")


def test_pinned_url_is_the_one_facenet_pytorch_downloads():
    import inspect

    from facenet_pytorch.models import inception_resnet_v1

    assert f"'{VGGFACE2.url}'" in inspect.getsource(inception_resnet_v1.load_weights)
    assert len(VGGFACE2.sha256) == 64 and int(VGGFACE2.sha256, 16) > 0
