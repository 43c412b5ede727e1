"""The PyTorch port of fer's mini-Xception: structure, preprocessing, outputs on real faces."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from analytics.classifiers.base import EmotionClassifier
from analytics.classifiers.fer_mini_xception import (
    FER_LABELS,
    FerMiniXception,
    _same_pads,
    fer7_to_emotions,
    load_fer_model,
    port_keras_weights,
    to_gray_input,
)
from brandmood.core.types import EMOTIONS, Emotion


def test_tensorflow_same_padding_puts_the_extra_pixel_after() -> None:
    assert _same_pads(60, 3, 2) == (0, 1)
    assert _same_pads(15, 3, 2) == (1, 1)
    assert _same_pads(8, 3, 2) == (0, 1)
    assert _same_pads(60, 1, 2) == (0, 0)


def test_features_then_classify_equals_forward(photo_crops, fer_weights) -> None:
    model = load_fer_model(fer_weights)
    x = to_gray_input(np.concatenate(list(photo_crops.values())))
    with torch.inference_mode():
        feats = model.features(x)
        assert feats.shape == (len(x), model.feature_dim) == (len(x), 1152)
        logits = model.classify(feats)
        assert logits.shape == (len(x), 7)
        # the final 3x3 'same' conv + global average pooling, computed the direct way
        fmap = model.feature_map(x)
        w = model.head.weight.reshape(7, 3, 3, 128).permute(0, 3, 1, 2)
        direct = torch.nn.functional.conv2d(fmap, w, model.head.bias, padding=1).mean((2, 3))
    torch.testing.assert_close(logits, direct, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(x), logits)


def test_gray_conversion_and_scaling_match_fer() -> None:
    crops = np.zeros((2, 64, 64, 3), np.uint8)
    crops[0] = (255, 255, 255)
    crops[1] = (100, 50, 200)  # 0.299*100 + 0.587*50 + 0.114*200 = 82.15 -> 82
    x = to_gray_input(crops).numpy()
    assert x.shape == (2, 1, 64, 64)
    assert np.allclose(x[0], 1.0)
    assert np.allclose(x[1], (82 / 255 - 0.5) * 2)


@pytest.mark.parametrize("bad", [np.zeros((2, 64, 64), np.uint8),
                                 np.zeros((2, 64, 64, 3), np.float32),
                                 np.zeros((2, 64, 64, 4), np.uint8)])
def test_bad_crops_are_rejected(fer_clf, bad) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        fer_clf.predict(bad)


def test_wrong_crop_size_is_rejected(fer_clf) -> None:
    with pytest.raises(ValueError, match="64"):
        fer_clf.predict(np.zeros((1, 48, 48, 3), np.uint8))


def test_seven_outputs_map_into_eight_labels_with_contempt_nan() -> None:
    p7 = np.array([[0.1, 0.2, 0.3, 0.05, 0.15, 0.12, 0.08]], np.float32)
    p8 = fer7_to_emotions(p7)
    assert np.isnan(p8[0, EMOTIONS.index(Emotion.CONTEMPT)])
    for j, label in enumerate(FER_LABELS):
        assert p8[0, EMOTIONS.index(label)] == pytest.approx(p7[0, j])
    with pytest.raises(ValueError):
        fer7_to_emotions(np.ones((1, 8)))


def test_predict_on_real_faces(fer_clf, photo_crops) -> None:
    assert isinstance(fer_clf, EmotionClassifier)
    assert fer_clf.info.name == "fer-mini-xception" and len(fer_clf.info.weights_sha256) == 64
    crops = np.concatenate(list(photo_crops.values()))
    assert len(crops) >= 10
    probs = fer_clf.predict(crops)
    assert probs.shape == (len(crops), 8) and probs.dtype == np.float32
    assert np.isnan(probs[:, EMOTIONS.index(Emotion.CONTEMPT)]).all()
    assert np.allclose(np.nansum(probs, axis=1), 1.0, atol=1e-5)
    assert np.all((np.nan_to_num(probs) >= 0) & (np.nan_to_num(probs) <= 1))
    happy = EMOTIONS.index(Emotion.HAPPY)
    for name in ("single_face.jpg", "0-f15-hao-ph.jpg"):  # broad, open-mouthed smiles
        p = fer_clf.predict(photo_crops[name])
        assert int(np.nanargmax(p[0])) == happy and p[0, happy] > 0.8, name


def test_batched_equals_one_by_one(photo_crops, fer_weights) -> None:
    crops = np.concatenate(list(photo_crops.values()))
    model = load_fer_model(fer_weights)
    batched = FerMiniXception(fer_weights, model=model, batch_size=256).predict(crops)
    single = FerMiniXception(fer_weights, model=model, batch_size=1).predict(crops)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert FerMiniXception(fer_weights, model=model).predict(crops[:0]).shape == (0, 8)


def test_port_refuses_a_file_with_another_architecture(tmp_path) -> None:
    path = tmp_path / "other.hdf5"
    config = {"class_name": "Model", "config": {"layers": [
        {"class_name": "Conv2D", "name": "conv2d_1", "config": {}, "inbound_nodes": []}]}}
    with h5py.File(path, "w") as fh:
        fh.attrs["model_config"] = json.dumps(config)
        fh.create_dataset("model_weights/conv2d_1/conv2d_1/kernel:0", data=np.zeros((3, 3, 1, 8)))
    with pytest.raises(ValueError, match="not the fer mini-Xception"):
        port_keras_weights(path)
