"""MTCNN on real photos: face counts, box ranges, EXIF, batching, downscaling."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from analytics.detection import MTCNNDetector, downscale
from analytics.images import load_image
from analytics.tracks import iou_matrix
from tests.conftest import media_file


def _check_inside(faces, image):
    h, w = image.shape[:2]
    b = faces.boxes
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
    assert (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
    assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
    assert ((faces.scores >= 0.9) & (faces.scores <= 1.0)).all()
    assert faces.landmarks.shape == (len(faces), 5, 2)


def test_counts_on_real_photos(analyzed, photos):
    names = list(analyzed)
    found = list(analyzed.values())
    counts = dict(zip(names, map(len, found), strict=True))
    assert counts["single_face.jpg"] == 1
    assert 5 <= counts["multi_face.jpg"] <= 7
    assert counts["free-mountain-vector-01.jpg"] == 0
    assert counts["Image_with_alpha.png"] == 1
    assert counts["0-f15-hao-ph.jpg"] == 1
    for name, faces in zip(names, found, strict=True):
        _check_inside(faces, photos[name])
        assert faces.detector is not None and faces.detector.name == "mtcnn"
    # the single face: a head of roughly 180 x 250 px in a 572 x 562 photo
    (x1, y1, x2, y2), = found[0].boxes
    assert 120 < x2 - x1 < 260 and 160 < y2 - y1 < 320
    lm = found[0].landmarks[0]
    assert (lm[:, 0] > x1).all() and (lm[:, 0] < x2).all()
    assert (lm[:, 1] > y1).all() and (lm[:, 1] < y2).all()
    assert lm[0, 0] < lm[1, 0]  # left eye left of right eye
    assert lm[:2, 1].max() < lm[3:, 1].min()  # eyes above the mouth


def test_grayscale_copy_of_group_photo(detector, photos, analyzed):
    gray = np.asarray(Image.fromarray(photos["multi_face.jpg"]).convert("L").convert("RGB"))
    color = analyzed["multi_face.jpg"]
    faces = detector.detect([gray])[0]
    assert len(faces) >= 5
    # the same people are found: each color face has a gray match
    assert (iou_matrix(color.boxes, faces.boxes).max(axis=1) > 0.7).sum() >= 5


def test_exif_rotated_copy_maps_to_the_upright_frame(detector, photos, analyzed):
    src = Image.open(media_file("single_face.jpg")).convert("RGB")
    stored = src.transpose(Image.Transpose.ROTATE_90)  # pixels lie sideways, as phones store
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=95, exif=exif)
    upright = load_image(buf.getvalue())
    assert upright.shape == photos["single_face.jpg"].shape  # 562 x 572, not 572 x 562
    (faces,) = detector.detect([upright])
    ref = analyzed["single_face.jpg"]
    assert len(faces) == 1
    assert np.abs(faces.boxes - ref.boxes).max() < 6.0


def test_batched_detection_equals_one_by_one(detector):
    # three 512 x 512 photos form one MTCNN batch; the 572 x 562 one is its own group
    names = ("0-f15-hao-ph.jpg", "45-m7-di-ph.jpg", "15-f13-anc-ph.jpg", "single_face.jpg")
    imgs = [load_image(media_file(n)) for n in names]
    batched = detector.detect(imgs)
    for img, b in zip(imgs, batched, strict=True):
        (alone,) = detector.detect([img])
        np.testing.assert_allclose(b.boxes, alone.boxes, atol=1e-3)
        np.testing.assert_allclose(b.landmarks, alone.landmarks, atol=1e-3)
        np.testing.assert_allclose(b.scores, alone.scores, atol=1e-5)


def test_large_images_are_downscaled_and_mapped_back(photos, analyzed):
    img = photos["multi_face.jpg"]  # 1000 x 667
    full = analyzed["multi_face.jpg"]
    small = MTCNNDetector(max_side=500).detect([img])[0]
    assert len(small) >= 5
    _check_inside(small, img)
    # boxes found at half resolution land on the same faces in original pixels
    assert (iou_matrix(full.boxes, small.boxes).max(axis=1) > 0.6).sum() >= 5
    shrunk, (sx, sy) = downscale(img, 500)
    assert max(shrunk.shape[:2]) == 500 and abs(sx - 0.5) < 0.01 and abs(sy - 0.5) < 0.01


def test_downscale_follows_pil_bilinear(photos):
    import torch
    from torch.nn.functional import interpolate

    img = photos["multi_face.jpg"]  # 1000 x 667
    shrunk, _ = downscale(img, 640)
    assert shrunk.shape == (427, 640, 3) and shrunk.flags["C_CONTIGUOUS"]
    pil = np.asarray(Image.fromarray(img).resize((640, 427), Image.Resampling.BILINEAR))
    diff = np.abs(shrunk.astype(np.int16) - pil)
    assert diff.max() <= 2 and diff.mean() < 0.05
    # the channels-last out= kernel gives exactly F.interpolate's values
    src = torch.from_numpy(img).permute(2, 0, 1)[None]
    ref = interpolate(src, size=(427, 640), mode="bilinear", antialias=True, align_corners=False)
    np.testing.assert_array_equal(shrunk, ref[0].permute(1, 2, 0).numpy())
    same, scale = downscale(img, 1000)
    assert same is img and scale == (1.0, 1.0)


def test_min_face_size_and_score_threshold(photos, analyzed):
    img = photos["multi_face.jpg"]  # faces about 80-130 px
    assert len(MTCNNDetector(min_face_size=250).detect([img])[0]) == 0
    single = photos["0-f15-hao-ph.jpg"]
    assert len(MTCNNDetector(score_threshold=0.0).detect([single])[0]) >= 1
    strict = MTCNNDetector(score_threshold=1.0).detect([single])[0]
    assert ((strict.scores >= 1.0) | (len(strict) == 0)).all()


def test_model_info_and_bad_arguments(detector):
    assert len(detector.info.weights_sha256) == 64
    assert detector.info.version.startswith("facenet-pytorch-")
    for kwargs in ({"max_side": 10}, {"min_face_size": 5}, {"thresholds": (0.6, 0.7)},
                   {"score_threshold": 1.5}, {"factor": 1.2}):
        with pytest.raises(ValueError):
            MTCNNDetector(**kwargs)
    with pytest.raises(ValueError, match="uint8"):
        detector.detect([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        detector.detect([np.zeros((10, 10), np.uint8)])
    assert detector.detect([]) == []
    tiny = detector.detect([np.zeros((8, 8, 3), np.uint8)])
    assert len(tiny) == 1 and len(tiny[0]) == 0
