"""The real detector and classifier end to end on real photos and videos."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.images import load_image
from analytics.pipeline import Analyzer, default_analyzer
from analytics.tracks import iou_matrix
from analytics.video import VideoDecodeError, iter_frames
from brandmood.core.types import EMOTIONS, Emotion
from tests.conftest import media_file


def test_photos_get_faces_with_probabilities(analyzed, analyzer):
    counts = {name: len(faces) for name, faces in analyzed.items()}
    assert counts["single_face.jpg"] == 1 and counts["free-mountain-vector-01.jpg"] == 0
    assert counts["multi_face.jpg"] >= 5 and counts["Image_with_alpha.png"] == 1
    for faces in analyzed.values():
        assert faces.probs.shape == (len(faces), 8)
        assert faces.classifier == analyzer.classifier.info
        finite = np.isfinite(faces.probs)
        assert finite.any(axis=1).all() if len(faces) else True
        sums = np.nansum(faces.probs, axis=1)
        np.testing.assert_allclose(sums, 1.0, atol=1e-4)
        assert ((faces.probs[finite] >= 0) & (faces.probs[finite] <= 1)).all()
        np.testing.assert_array_equal(faces.uncertain, analyzer.rule.flags(faces.probs))


def test_smiling_faces_come_out_happy(analyzed):
    for name in ("0-f15-hao-ph.jpg", "single_face.jpg"):  # a posed and a candid smile
        faces = analyzed[name]
        assert faces.dominant == [Emotion.HAPPY], name
        assert faces.confidence[0] > 0.6
        assert not faces.uncertain[0]
    group = analyzed["multi_face.jpg"]  # five young people, most of them laughing
    assert sum(d is Emotion.HAPPY for d in group.dominant) >= 3


def test_batched_analysis_equals_one_by_one(analyzer, analyzed, photos):
    for name in ("single_face.jpg", "multi_face.jpg", "0-f15-hao-ph.jpg"):
        batched = analyzed[name]  # analyzed in one call with two larger photos
        (alone,) = analyzer.analyze_images([photos[name]])
        assert len(alone) == len(batched), name
        np.testing.assert_allclose(alone.boxes, batched.boxes, atol=1e-3)
        np.testing.assert_allclose(alone.probs, batched.probs, atol=1e-5, equal_nan=True)
        np.testing.assert_array_equal(alone.uncertain, batched.uncertain)


def test_empty_batch_and_default_analyzer_is_cached(analyzer):
    assert analyzer.analyze_images([]) == []
    assert default_analyzer() is analyzer
    params = analyzer.parameters
    assert params["detector"]["max_side"] == 1280 and params["crop_size"] > 0
    assert isinstance(analyzer, Analyzer)


def test_face_appears_then_leaves_video(analyzer):
    result = analyzer.analyze_video(media_file("face_noface.mov"), every_s=1.5)
    counts = [len(f.faces) for f in result.frames]
    assert result.frames[0].timestamp_ms == 0 and len(counts) == 5  # 0, 1.5, 3, 4.5, 6 s
    assert counts[0] == 1 and counts[-1] == 0
    assert sum(counts) >= 2
    ids = {int(t) for f in result.frames for t in f.faces.track_ids}
    assert ids == {0}  # one person, one track
    s = result.summary
    assert len(s.tracks) == 1 and 0 < s.n_frames_with_faces < s.n_frames
    assert s.tracks[0].first_ms == 0 and s.tracks[0].last_ms < 6000
    assert sum(s.shares.emotions) + s.shares.uncertain == pytest.approx(1.0)
    assert result.info.width == 960 and result.info.height == 540
    # frames are analyzed at 640 px; boxes come back in full 960 x 540 video pixels
    first = next(iter_frames(media_file("face_noface.mov")))
    (full,) = analyzer.detector.detect([first.image])
    assert iou_matrix(full.boxes, result.frames[0].faces.boxes).max() > 0.7


def test_face_arrives_late_and_no_face_video(analyzer):
    late = analyzer.analyze_video(media_file("noface_face.mov"), every_s=1.5)
    counts = [len(f.faces) for f in late.frames]
    assert counts[0] == 0 and counts[-1] == 1
    assert len(late.summary.tracks) == 1 and late.summary.tracks[0].first_ms > 1500
    empty = analyzer.analyze_video(media_file("no_face.mp4"), every_s=1.0)
    assert len(empty.frames) == 4 and empty.summary.n_faces == 0
    assert empty.summary.tracks == () and empty.summary.face_time_share == 0.0


def test_single_face_video_is_one_track_and_bad_video_raises(analyzer, tmp_path):
    result = analyzer.analyze_video(media_file("single_face.mp4"), every_s=1.0, batch=2)
    assert [len(f.faces) for f in result.frames] == [1, 1, 1]
    assert [f.faces.track_ids.tolist() for f in result.frames] == [[0], [0], [0]]
    peaks = {p.emotion for p in result.summary.tracks[0].peaks}
    assert Emotion.HAPPY in peaks and len(peaks) == sum(
        not np.isnan(result.frames[0].faces.probs[0, k]) for k in range(len(EMOTIONS)))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoDecodeError):
        analyzer.analyze_video(bad)


def test_real_photo_batch_of_different_sizes_keeps_order(analyzer, photos):
    imgs = [photos["free-mountain-vector-01.jpg"], load_image(media_file("0-f1-su-ph.jpg")),
            photos["0-f15-hao-ph.jpg"]]
    out = analyzer.analyze_images(imgs)
    assert [len(f) for f in out] == [0, 1, 1]
    assert (out[1].boxes[:, 2] <= 512).all() and (out[2].boxes[:, 3] <= 512).all()
