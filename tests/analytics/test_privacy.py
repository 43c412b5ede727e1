"""Blurring faces on real photos: the pixels of each blurred head change, nothing else does,
and MTCNN no longer finds a face there while the faces left alone are still found."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.privacy import blur_faces, head_region


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _found(detector, image: np.ndarray) -> np.ndarray:
    return detector.detect([image])[0].boxes


@pytest.mark.parametrize("name", ["multi_face.jpg", "single_face.jpg", "0-f15-hao-ph.jpg"])
def test_blurred_faces_are_gone_and_the_others_stay(detector, photos, name):
    image = photos[name]
    boxes = _found(detector, image)
    assert len(boxes) >= 1
    chosen = boxes[::2]  # every other face (the only one, on a single-face photo)
    kept = boxes[1::2]
    out = blur_faces(image, chosen)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, image)
    h, w = image.shape[:2]
    changed = np.zeros((h, w), bool)
    for box in chosen:
        x0, y0, x1, y1 = head_region(box, w, h)
        # the whole face box lies inside the blurred region, whose pixels changed
        assert x0 <= box[0] and y0 <= box[1] and x1 >= box[2] and y1 >= box[3]
        fx0, fy0, fx1, fy1 = (int(v) for v in box)
        face_before = image[fy0:fy1, fx0:fx1].astype(int)
        face_after = out[fy0:fy1, fx0:fx1].astype(int)
        assert np.abs(face_after - face_before).mean() > 3
        # few distinct colours are left: a mosaic, not a face
        assert len(np.unique(face_after.reshape(-1, 3), axis=0)) < 60
        changed[y0:y1, x0:x1] = True
    assert np.array_equal(out[~changed], image[~changed])  # nothing else touched
    after = _found(detector, out)
    for box in chosen:
        assert all(_iou(box, b) < 0.2 for b in after), (box, after)
    for box in kept:
        assert any(_iou(box, b) > 0.5 for b in after), (box, after)


def test_a_sensitive_detector_finds_nothing_either(photos):
    """Smaller faces and a lower score threshold than the app uses still find no face."""
    from analytics.detection import MTCNNDetector

    sensitive = MTCNNDetector(min_face_size=20, score_threshold=0.7)
    image = photos["multi_face.jpg"]
    boxes = _found(sensitive, image)
    assert len(boxes) >= 5
    after = _found(sensitive, blur_faces(image, boxes))
    assert all(_iou(a, b) < 0.2 for a in boxes for b in after), after


def test_edges_and_bad_input(photos):
    image = photos["single_face.jpg"]
    h, w = image.shape[:2]
    assert np.array_equal(blur_faces(image, np.zeros((0, 4))), image)
    # a box hanging over the corner and one wholly outside the picture
    out = blur_faces(image, np.array([[-30, -30, 40, 50], [w + 100, h + 100, w + 140, h + 160]]))
    assert not np.array_equal(out[:10, :10], image[:10, :10])
    assert np.array_equal(out[h // 2:, w // 2:], image[h // 2:, w // 2:])
    assert head_region((w + 100, h + 100, w + 140, h + 160), w, h)[:2] == (w, h)
    with pytest.raises(ValueError, match="uint8"):
        blur_faces(image.astype(np.float32), np.zeros((0, 4)))
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        blur_faces(image, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        blur_faces(image, np.array([[0, 0, np.nan, 5]]))
    with pytest.raises(ValueError, match="ordered"):
        blur_faces(image, np.array([[50, 50, 10, 10]]))
