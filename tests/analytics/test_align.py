"""Aligned face crops: exact geometry on synthetic images, leveling on a real rotated photo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from analytics.align import crop_faces, crop_geometry
from analytics.classifiers.base import InputSpec
from brandmood.core.types import FaceDetections


def _gradient(h: int = 200, w: int = 200) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=2).astype(np.uint8)


def test_unknown_landmarks_give_the_plain_box_crop():
    img = _gradient()
    faces = FaceDetections.create(np.array([[50, 60, 150, 160]]))  # landmarks NaN
    crops = crop_faces(img, faces, InputSpec(size=100, margin=0.0))
    assert crops.shape == (1, 100, 100, 3) and crops.dtype == np.uint8
    np.testing.assert_array_equal(crops[0], img[60:160, 50:150])


def test_margin_and_square_side():
    faces = FaceDetections.create(np.array([[10, 20, 50, 100], [0, 0, 30, 30]], np.float32))
    geo = crop_geometry(faces, 0.25)
    np.testing.assert_allclose(geo.sides, [80 * 1.5, 30 * 1.5])
    np.testing.assert_allclose(geo.centers, [[30, 60], [15, 15]])
    inside = crop_geometry(faces, -0.1)  # a negative margin cuts inside the longer side
    np.testing.assert_allclose(inside.sides, [80 * 0.8, 30 * 0.8])
    for bad in (-0.5, -0.7, float("nan")):
        with pytest.raises(ValueError, match="margin"):
            crop_geometry(faces, bad)


def test_eye_line_is_leveled():
    lm = np.full((1, 5, 2), np.nan, np.float32)
    lm[0, 0] = (80, 80)
    lm[0, 1] = (120, 120)  # eyes on a 45° line
    faces = FaceDetections.create(np.array([[60, 60, 140, 140]]), landmarks=lm)
    geo = crop_geometry(faces, 0.2)
    assert math.isclose(geo.angles[0], math.pi / 4, abs_tol=1e-9)
    m = geo.affines(64)[0]
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
    eyes = inv @ np.array([[80, 120], [80, 120], [1, 1]], np.float64)
    assert abs(eyes[1, 0] - eyes[1, 1]) < 1e-9  # same row in the crop
    assert eyes[0, 0] < eyes[0, 1]  # left eye still on the left
    crops = crop_faces(_gradient(), faces, InputSpec(size=64))
    assert crops.shape == (1, 64, 64, 3)


def test_faces_at_the_border_and_no_faces():
    img = _gradient(120, 160)
    faces = FaceDetections.create(np.array([[0, 0, 40, 40], [130, 90, 160, 120]]))
    crops = crop_faces(img, faces, InputSpec(size=48, margin=0.5))
    assert crops.shape == (2, 48, 48, 3)
    assert crop_faces(img, FaceDetections.empty(), InputSpec(size=48)).shape == (0, 48, 48, 3)
    with pytest.raises(ValueError, match="uint8"):
        crop_faces(img.astype(np.float32), faces, InputSpec(size=48))


def test_rotated_real_face_comes_out_upright(detector, photos, analyzed):
    src = photos["single_face.jpg"]
    rotated = np.asarray(Image.fromarray(src).rotate(30, resample=Image.Resampling.BICUBIC,
                                                     expand=True, fillcolor=(128, 128, 128)))
    (faces_rot,) = detector.detect([rotated])
    faces = analyzed["single_face.jpg"]
    assert len(faces_rot) == 1
    geo0, geo1 = crop_geometry(faces, 0.2), crop_geometry(faces_rot, 0.2)
    # a counterclockwise turn of 30° in the picture tilts the eye line by -30° (y down)
    assert abs(math.degrees(geo1.angles[0] - geo0.angles[0]) + 30) < 5
    spec = InputSpec(size=64, margin=0.2)
    upright = crop_faces(src, faces, spec)[0].astype(float)
    aligned = crop_faces(rotated, faces_rot, spec)[0].astype(float)
    no_lm = FaceDetections.create(faces_rot.boxes, faces_rot.scores)  # box only, tilted
    tilted = crop_faces(rotated, no_lm, spec)[0].astype(float)
    err_aligned = np.abs(aligned - upright).mean()
    err_tilted = np.abs(tilted - upright).mean()
    assert err_aligned < 25 and err_aligned < 0.7 * err_tilted
