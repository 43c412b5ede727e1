"""Streamed video decoding: sampling, rotation, variable frame rate, broken and empty files."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from analytics.video import DecodeStats, VideoDecodeError, iter_frames, probe_video
from tests.conftest import media_file

MS = Fraction(1, 1000)


def _encode(path: Path, frames: list[np.ndarray], pts_ms: list[int], *,
            rotation: int | None = None) -> Path:
    """Write an H.264 MP4 with the given frame times (milliseconds) and display rotation."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = MS
        stream.time_base = MS
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for img, t in zip(frames, pts_ms, strict=True):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = t, MS
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_probe_and_sample_real_video():
    path = media_file("single_face.mp4")
    info = probe_video(path)
    assert info.has_video and info.rotation == 0
    assert (info.width, info.height) == (640, 360)
    assert info.fps == pytest.approx(30.0, abs=0.01)
    assert info.duration_s == pytest.approx(2.4, abs=0.1)
    frames = list(iter_frames(path, every_s=1.0))
    assert [f.timestamp_ms for f in frames] == [0, 1000, 2000]
    assert all(f.image.shape == (360, 640, 3) and f.image.dtype == np.uint8 for f in frames)
    half = [f.timestamp_ms for f in iter_frames(path, every_s=0.5)]
    assert half[0] == 0 and len(half) == 5
    assert all(b - a >= 490 for a, b in itertools.pairwise(half))


def test_rotation_metadata_is_applied(tmp_path):
    src = np.asarray(Image.open(media_file("multi_face.jpg")).convert("RGB").resize((320, 240)))
    path = _encode(tmp_path / "rot.mp4", [src] * 3, [0, 40, 80], rotation=90)
    info = probe_video(path)
    assert info.rotation == 90 and (info.width, info.height) == (240, 320)
    (first, *_rest) = list(iter_frames(path, every_s=0.02))
    assert first.image.shape == (320, 240, 3)
    expected = np.rot90(src, k=1).astype(float)  # 90° counterclockwise for display
    assert np.abs(first.image.astype(float) - expected).mean() < 12
    assert np.abs(first.image.astype(float) - np.rot90(src, k=-1)).mean() > 30


def test_variable_frame_rate_uses_timestamps(tmp_path):
    times = [0, 40, 80, 700, 1100, 1150, 2600, 2640]
    frames = [np.full((48, 64, 3), i * 30, np.uint8) for i in range(len(times))]
    path = _encode(tmp_path / "vfr.mp4", frames, times)
    sampled = list(iter_frames(path, every_s=1.0))
    # first frame, then the first frame at or after 1 s, then after 2 s
    assert [f.timestamp_ms for f in sampled] == [0, 1100, 2600]
    assert [int(f.image.mean() / 30 + 0.5) for f in sampled] == [0, 4, 6]


def test_broken_middle_skips_bad_packets_and_goes_on(tmp_path):
    data = bytearray(media_file("single_face.mp4").read_bytes())
    n = len(data)
    data[n // 3: n // 3 + 40_000] = np.random.default_rng(0).integers(
        0, 256, 40_000, dtype=np.uint8).tobytes()
    path = tmp_path / "broken.mp4"
    path.write_bytes(bytes(data))
    stats = DecodeStats()
    times = [f.timestamp_ms for f in iter_frames(path, every_s=1.0, stats=stats)]
    assert times[0] == 0 and times[-1] >= 1500
    assert stats.bad_packets > 0 and stats.decoded < 72


def test_zero_frames_no_stream_and_garbage_fail_clearly(tmp_path):
    data = bytearray(media_file("single_face.mp4").read_bytes())
    start, moov = data.find(b"mdat") + 4, data.find(b"moov")
    end = moov - 4 if moov > start else len(data)
    data[start:end] = np.random.default_rng(1).integers(0, 256, end - start,
                                                        dtype=np.uint8).tobytes()
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(bytes(data))
    with pytest.raises(VideoDecodeError, match="no decodable video frames"):
        list(iter_frames(zero))

    audio = tmp_path / "audio.m4a"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(VideoDecodeError, match="no video stream"):
        list(iter_frames(audio))
    assert probe_video(audio).has_video is False

    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 500)
    with pytest.raises(VideoDecodeError, match="cannot open video"):
        probe_video(garbage)
    with pytest.raises(VideoDecodeError, match="not found"):
        list(iter_frames(tmp_path / "missing.mp4"))
    with pytest.raises(ValueError, match="every_s"):
        list(iter_frames(media_file("single_face.mp4"), every_s=0))


def test_frames_are_streamed_not_collected():
    frames = iter_frames(media_file("face_noface.mov"), every_s=1.0)
    first = next(frames)  # the generator yields before decoding the rest of the file
    assert first.timestamp_ms == 0 and first.image.shape == (540, 960, 3)
    frames.close()


def test_prefetch_keeps_order_raises_errors_and_stops_early():
    from analytics.pipeline import prefetch

    assert list(prefetch(iter(range(50)), 3)) == list(range(50))

    def broken():
        yield 1
        raise VideoDecodeError("boom")

    got = []
    with pytest.raises(VideoDecodeError, match="boom"):
        for x in prefetch(broken(), 2):
            got.append(x)
    assert got == [1]
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    gen = prefetch(endless(), 2)
    assert [next(gen) for _ in range(5)] == [0, 1, 2, 3, 4]
    gen.close()
    assert closed == [True]  # the producer stopped and closed its source
