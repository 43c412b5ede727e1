"""Detection of one chunk overlapped with classification of the previous one (2+ cores)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.pipeline import OVERLAP_CHUNK, Analyzer
from tests.analytics.conftest import PHOTO_SET


@pytest.fixture(scope="module")
def pair(analyzer):
    """The default models behind a sequential and an overlapped analyzer."""
    seq = Analyzer(analyzer.detector, analyzer.classifier, analyzer.rule, overlap=False)
    ovl = Analyzer(analyzer.detector, analyzer.classifier, analyzer.rule, overlap=True)
    return seq, ovl


def test_overlapped_path_equals_sequential_on_real_photos(pair, photos):
    seq, ovl = pair
    # faces in several chunks, a face-free photo between them, the order of sizes mixed
    images = [photos[n] for n in (*PHOTO_SET, "BWPictureHuman.jpg", "single_face.jpg")]
    assert len(images) > 2 * OVERLAP_CHUNK
    want = seq.analyze_images(images)
    got = ovl.analyze_images(images)
    assert [len(f) for f in got] == [len(f) for f in want]
    assert sum(len(f) for f in got) >= 5
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(b.boxes, a.boxes, atol=1e-3)
        np.testing.assert_allclose(b.probs, a.probs, atol=1e-5, equal_nan=True)
        np.testing.assert_array_equal(b.uncertain, a.uncertain)
        assert b.classifier == a.classifier and b.detector == a.detector
    assert ovl.timings.images == len(images) and ovl.timings.faces == sum(len(f) for f in got)
    assert ovl.timings.classify_s > 0 and ovl.timings.detect_s > 0


class _WrongShape:
    """A real classifier whose output is cut short (the analyzer must refuse it)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.input_spec = inner.input_spec
        self.info = inner.info

    def predict(self, crops: np.ndarray) -> np.ndarray:
        return self.inner.predict(crops)[:, :3]


def test_classifier_error_in_worker_reaches_the_caller(analyzer, photos):
    bad = Analyzer(analyzer.detector, _WrongShape(analyzer.classifier), overlap=True)
    images = [photos["single_face.jpg"], photos["free-mountain-vector-01.jpg"],
              photos["multi_face.jpg"], photos["0-f15-hao-ph.jpg"]]
    with pytest.raises(ValueError, match="returned shape"):
        bad.analyze_images(images)
    # the lock is released and the analyzer still works on a face-free photo
    assert [len(f) for f in bad.analyze_images([photos["free-mountain-vector-01.jpg"]])] == [0]


def test_overlap_default_follows_the_core_count(analyzer, monkeypatch):
    import analytics.pipeline as pipeline

    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 1)
    assert not Analyzer(analyzer.detector, analyzer.classifier).overlap
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 2)
    assert Analyzer(analyzer.detector, analyzer.classifier).overlap


def test_two_detection_threads_only_where_torch_uses_one_thread_per_op(monkeypatch):
    import torch

    import analytics.detection as detection
    import analytics.pipeline as pipeline

    before = torch.get_num_threads()
    try:
        for cores, threads, want in ((1, "1", 1), (2, "1", 2), (8, "1", 2), (8, "7", 1),
                                     (8, "4", 2)):
            monkeypatch.setattr(pipeline.os, "cpu_count", lambda c=cores: c)
            monkeypatch.setattr(detection.os, "cpu_count", lambda c=cores: c)
            monkeypatch.setenv("BRANDMOOD_THREADS", threads)
            assert pipeline.detect_workers() == want, (cores, threads)
    finally:
        torch.set_num_threads(before)


def test_files_are_decoded_where_they_are_detected(pair, photos, tmp_path):
    from analytics.images import ImageDecodeError
    from tests.conftest import media_file

    seq, ovl = pair
    names = ["multi_face.jpg", "single_face.jpg", "free-mountain-vector-01.jpg"]
    want = seq.analyze_images([photos[n] for n in names])
    decode_before = ovl.timings.decode_s
    got = ovl.analyze_images([media_file(n) for n in names])
    assert [len(f) for f in got] == [len(f) for f in want] and sum(map(len, got)) >= 2
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(b.probs, a.probs, atol=1e-5, equal_nan=True)
    assert ovl.timings.decode_s > decode_before
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(ImageDecodeError):
        ovl.analyze_images([media_file("single_face.jpg"), broken, media_file("multi_face.jpg")])
