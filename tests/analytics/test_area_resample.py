"""The detector's area resampling (summed-area table) against PyTorch's
``interpolate(mode="area")`` and the whole detector against facenet-pytorch's own MTCNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.functional import interpolate

from analytics.detection import (
    MTCNNDetector,
    area_crops,
    area_resize,
    integral_image,
)


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (97, 131, 3), dtype=np.uint8)


def _reference(picture: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(picture).permute(2, 0, 1)[None].float()


def test_integral_image_is_exact(picture):
    sat = integral_image(picture)
    assert sat.shape == (98, 132, 3) and sat.dtype == np.int32
    assert (sat[0] == 0).all() and (sat[:, 0] == 0).all()
    expected = np.cumsum(np.cumsum(picture, axis=0, dtype=np.int64), axis=1)
    np.testing.assert_array_equal(sat[1:, 1:], expected)
    assert sat[10, 20, 2] == int(picture[:10, :20, 2].sum())


@pytest.mark.parametrize("size", [(12, 12), (40, 53), (97, 131), (98, 132), (200, 61)])
def test_area_resize_matches_interpolate(picture, size):
    ours = area_resize(integral_image(picture), size)
    ref = interpolate(_reference(picture), size=size, mode="area")[0].permute(1, 2, 0)
    assert ours.shape == (*size, 3) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref.numpy(), atol=1e-4)
    into = np.full((*size, 3), np.nan, np.float32)
    assert area_resize(integral_image(picture), size, out=into) is into
    np.testing.assert_array_equal(into, ours)


def test_area_crops_match_interpolate_per_region(picture):
    sat = integral_image(picture)
    rows = (np.array([0, 5, 90, 0]), np.array([97, 6, 97, 30]))
    cols = (np.array([0, 100, 3, 120]), np.array([131, 131, 60, 121]))
    for size in (24, 48):
        crops = area_crops(sat, rows, cols, size)
        assert crops.shape == (4, 3, size, size) and crops.dtype == torch.float32
        assert crops.is_contiguous(memory_format=torch.channels_last)
        ref = _reference(picture)
        for k in range(4):
            region = ref[:, :, rows[0][k]:rows[1][k], cols[0][k]:cols[1][k]]
            expected = interpolate(region, size=(size, size), mode="area")[0]
            torch.testing.assert_close(crops[k], expected, atol=1e-4, rtol=0)


def test_detector_matches_facenet_mtcnn(photos):
    """Same stages, same weights: boxes, scores and landmarks agree with facenet-pytorch."""
    from facenet_pytorch import MTCNN

    image = photos["multi_face.jpg"]
    ours = MTCNNDetector(max_side=max(image.shape), min_face_size=20,
                         score_threshold=0.0).detect([image])[0]
    found = MTCNN(min_face_size=20, keep_all=True).detect(image, landmarks=True)
    boxes, probs, points = (np.asarray(a, np.float32) for a in found)
    order = np.argsort(-probs, kind="stable")
    assert len(ours) == len(probs) >= 5
    np.testing.assert_allclose(np.sort(ours.scores)[::-1], probs[order], atol=1e-4)
    for box, lm in zip(boxes, points, strict=True):
        k = int(np.argmin(np.abs(ours.boxes - box).sum(axis=1)))
        np.testing.assert_allclose(ours.boxes[k], box, atol=0.05)
        np.testing.assert_allclose(ours.landmarks[k], lm, atol=0.05)


def test_default_minimum_face_size_is_documented():
    assert MTCNNDetector().min_face_size == 40
    assert MTCNNDetector(min_face_size=20).parameters["min_face_size"] == 20
