"""The peer benchmarks' own logic: synthesized media, scoring of fer's answers, bookkeeping.

The benchmarks themselves (TensorFlow in a separate venv, minutes of CPU) are run by hand;
these tests cover the parts whose mistakes would silently skew their numbers.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from analytics.images import load_image
from analytics.metrics import NO_PREDICTION
from benchmarks import bench_media, peer_accuracy, peer_common, speed
from brandmood.core.types import EMOTIONS, Emotion


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[bench_media.Photo]:
    return bench_media.build_photos(tmp_path_factory.mktemp("photos"), 12, seed=3)


def test_photos_are_social_size_with_every_face_count(photos):
    assert len(photos) == 12
    assert sorted({p.planted_faces for p in photos}) == list(range(11))
    for p in photos:
        img = load_image(p.path)
        assert img.shape == (p.height, p.width, 3)
        assert 1000 <= p.width <= 2000 and 1000 <= p.height <= 2000


def test_photos_are_deterministic(photos, tmp_path):
    again = bench_media.build_photos(tmp_path / "a", 3, seed=3)
    other = bench_media.build_photos(tmp_path / "b", 3, seed=4)
    for p, q in zip(photos[:3], again, strict=True):
        assert p.planted_faces == q.planted_faces
        assert np.array_equal(load_image(p.path), load_image(q.path))
    assert [p.planted_faces for p in other] != [p.planted_faces for p in again] or any(
        not np.array_equal(load_image(a.path), load_image(b.path))
        for a, b in zip(again, other, strict=True))


def test_build_photos_rejects_zero(tmp_path):
    with pytest.raises(ValueError, match="positive"):
        bench_media.build_photos(tmp_path, 0)


def test_long_video_has_the_asked_length_and_is_reused(tmp_path):
    from analytics.video import iter_frames, probe_video

    path = bench_media.build_long_video(tmp_path / "v.mp4", minutes=0.1, fps=5, size=(320, 180))
    info = probe_video(path)
    assert (info.width, info.height) == (320, 180)
    assert info.duration_s == pytest.approx(6.0, abs=0.3)
    assert len(list(iter_frames(path, every_s=1.0))) == 6
    mtime = path.stat().st_mtime_ns
    bench_media.build_long_video(path, minutes=0.1, fps=5, size=(320, 180))
    assert path.stat().st_mtime_ns == mtime
    assert not list(tmp_path.glob("*.partial.mp4"))


def _face(w: int, h: int, **emotions: float) -> dict:
    base = dict.fromkeys(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
                         0.0)
    return {"box": [0, 0, w, h], "emotions": base | emotions}


def test_fer_answer_takes_the_largest_face():
    faces = [_face(10, 10, sad=0.9, happy=0.1), _face(50, 40, happy=0.6, sad=0.4)]
    assert peer_accuracy.fer_answer(faces) == (EMOTIONS.index(Emotion.HAPPY), 0.6)
    label, conf = peer_accuracy.fer_answer([])
    assert label == NO_PREDICTION and math.isnan(conf)


def test_score_counts_missing_faces_as_wrong(tmp_path):
    items = [peer_common.Labeled(tmp_path / f"{i}.png", Emotion(e))
             for i, e in enumerate(["happy", "sad", "neutral", "anger"])]
    results = [{"faces": [_face(9, 9, happy=0.8, neutral=0.2)]},
               {"faces": [_face(9, 9, sad=0.5, fear=0.4)]},
               {"faces": []},
               {"faces": [_face(9, 9, angry=0.7, disgust=0.3)]}]
    m = peer_accuracy.score(items, results)
    assert m["accuracy"] == 0.75
    assert m["face_found_rate"] == 0.75
    assert m["per_class_recall"] == {"neutral": 0.0, "happy": 1.0, "sad": 1.0, "anger": 1.0}
    assert m["macro_f1"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="3 results for 4"):
        peer_accuracy.score(items, results[:3])


def test_list_labeled_reads_label_folders(tmp_path):
    for label, name in (("happy", "a.png"), ("angry", "b.jpg"), ("angry", "notes.txt")):
        (tmp_path / label).mkdir(exist_ok=True)
        (tmp_path / label / name).write_bytes(b"x")
    items = peer_common.list_labeled(tmp_path)
    assert [(i.path.name, i.label) for i in items] == [("b.jpg", Emotion.ANGER),
                                                        ("a.png", Emotion.HAPPY)]
    (tmp_path / "bored").mkdir()
    (tmp_path / "bored" / "c.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="bored"):
        peer_common.list_labeled(tmp_path)
    assert peer_common.list_labeled(tmp_path, skip_unknown=True) == items


def test_run_peer_reports_a_failing_script(tmp_path):
    with pytest.raises(peer_common.PeerError, match=r"no_such_script\.py failed"):
        peer_common.run_peer("no_such_script.py", [], python=Path(sys.executable), timeout=60)


def test_write_json_turns_nan_into_null(tmp_path):
    out = tmp_path / "x" / "o.json"
    peer_common.write_json(out, {"a": float("nan"), "b": [1.5, float("inf")], "c": {"d": 2}})
    assert out.read_text().split() == ['{', '"a":', 'null,', '"b":', '[', '1.5,', 'null', '],',
                                       '"c":', '{', '"d":', '2', '}', '}']


def _args() -> argparse.Namespace:
    return argparse.Namespace(n_images=2, seed=0, batch=8, chunk=8, every_s=1.0,
                              long_minutes=10.0, long_fps=25)


def test_speed_record_ratios_and_targets():
    photos = {n: speed.Run() for n in speed.PIPELINES}
    photos["brandmood"].add([2, 3], 1.0, 0.5)
    photos["naive"].add([2, 2], 2.0, 1.5)
    photos["fer"].add([1, 3], 4.0, 2.0)
    vids = {n: speed.Run() for n in speed.PIPELINES}
    vids["brandmood"].add([1] * 20, 2.0, 1.0, video_s=30.0)
    vids["naive"].add([1] * 20, 3.0, 2.0, video_s=30.0)
    vids["fer"].add([1] * 20, 6.0, 3.0, video_s=30.0)
    long = {"peak_rss_mb": 900.0, "seconds": 50.0, "video_s": 600.0, "timed_out": False}
    rec = speed.record(_args(), [2, 3], photos, vids, long)
    assert rec["images_per_s"] == 2.0 and rec["fer_images_per_s"] == 0.5
    assert rec["ratio_vs_fer"] == 4.0 and rec["ratio_vs_naive"] == 2.0
    assert rec["cpu_ratio_vs_fer"] == 4.0
    assert (rec["faces"], rec["fer_faces"]) == (5, 4)
    assert rec["count_mae_vs_planted"] == {"brandmood": 0.0, "naive": 0.5, "fer": 0.5}
    assert rec["video_realtime_factor"] == 15.0 and rec["fer_video_realtime_factor"] == 5.0
    assert rec["long_video_realtime_factor"] == 12.0
    assert rec["targets"] == {"ratio_vs_fer": True, "video_realtime_factor": True,
                              "video_peak_rss_mb": True}
    long["peak_rss_mb"] = 2100.0
    assert speed.record(_args(), [2, 3], photos, vids, long)["targets"]["video_peak_rss_mb"] \
        is False


def test_speed_record_uses_partial_progress_of_a_stopped_long_run():
    photos = {n: speed.Run() for n in speed.PIPELINES[:2]}
    photos["brandmood"].add([1], 1.0, 1.0)
    photos["naive"].add([1], 1.0, 1.0)
    vids = {n: speed.Run() for n in speed.PIPELINES[:2]}
    vids["brandmood"].add([1], 1.0, 1.0, video_s=4.0)
    vids["naive"].add([1], 1.0, 1.0, video_s=4.0)
    long = {"peak_rss_mb": 1000.0, "seconds": 300.0, "video_s": 600.0, "timed_out": True,
            "frames": 150, "realtime_partial": 0.5}
    rec = speed.record(_args(), [1], photos, vids, long)
    assert rec["long_video_realtime_factor"] == 0.5
    assert math.isnan(rec["ratio_vs_fer"]) and rec["fer_faces"] is None
    assert "ratio_vs_fer" not in rec["targets"]
    assert rec["targets"]["video_realtime_factor"] is False
