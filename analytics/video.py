"""Streamed video decoding with PyAV: sampled, upright RGB frames, never the whole video.

:func:`iter_frames` decodes packet by packet and converts to RGB only the frames it
keeps: the first frame, then the first frame at or after every ``every_s`` seconds.
Timestamps come from each frame's ``pts × time_base`` (so variable frame rate is
handled), relative to the first frame. Rotation metadata (the display matrix) is
applied. Packets that fail to decode in the middle of a file are skipped and counted;
a file with no video stream or no decodable frame raises :class:`VideoDecodeError`.
PyAV is imported by the functions that open a file (it is heavy; importing this module is not).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_BAD_PACKETS = 500
"""Give up on a file after this many packets that fail to decode."""


class VideoDecodeError(ValueError):
    """A video cannot be decoded; the message says why."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as displayed (width/height after rotation).

    Attributes:
        duration_s: length in seconds (None where the container does not say).
        fps: average frame rate (None where unknown).
        width: displayed width in pixels.
        height: displayed height in pixels.
        rotation: counterclockwise display rotation in degrees (0, 90, 180 or 270).
        has_video: whether the file has a video stream.
    """

    duration_s: float | None
    fps: float | None
    width: int
    height: int
    rotation: int
    has_video: bool


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: milliseconds since the first frame and ``(H, W, 3)`` uint8 RGB."""

    timestamp_ms: int
    image: np.ndarray


@dataclass
class DecodeStats:
    """Counters filled while :func:`iter_frames` runs (pass one in to read them)."""

    decoded: int = 0
    sampled: int = 0
    bad_packets: int = 0
    last_error: str = ""


def _open(path: Path | str):
    import av

    try:
        container = av.open(str(path), mode="r")
    except FileNotFoundError:
        raise VideoDecodeError(f"video file not found: {path}") from None
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoDecodeError(f"cannot open video: {_reason(exc)}") from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError("no video stream in the file")
    return container


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def normalize_rotation(degrees: float | None) -> int:
    """Round a display rotation to 0, 90, 180 or 270 (counterclockwise)."""
    if degrees is None or not math.isfinite(degrees):
        return 0
    return round(degrees / 90.0) % 4 * 90


def stream_timing(container, stream) -> tuple[float | None, float | None]:
    """``(duration_s, fps)`` of a PyAV video stream, from its header (None where unknown)."""
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    rate = stream.average_rate or stream.guessed_rate
    return duration, (float(rate) if rate else None)


def probe_video(path: Path | str) -> VideoInfo:
    """Read duration, frame rate, size and rotation (decodes at most the first frame).

    A file without a video stream gives ``has_video=False`` rather than an error.

    Raises:
        VideoDecodeError: if the file cannot be opened as a media container.
    """
    try:
        container = _open(path)
    except VideoDecodeError as exc:
        if "no video stream" in str(exc):
            return VideoInfo(None, None, 0, 0, 0, has_video=False)
        raise
    with container:
        stream = container.streams.video[0]
        duration, fps = stream_timing(container, stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        rotation = 0
        for frame in _decode(container, stream, DecodeStats()):
            rotation = normalize_rotation(frame.rotation)
            width, height = frame.width, frame.height
            break
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(duration, fps, int(width), int(height), rotation, has_video=True)


def _decode(container, stream, stats: DecodeStats) -> Iterator:
    """Decoded frames of ``stream``, skipping packets that fail to decode."""
    import av

    try:
        packets = container.demux(stream)
        for packet in packets:
            try:
                frames = packet.decode()
            except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
                stats.bad_packets += 1
                stats.last_error = _reason(exc)
                if stats.bad_packets > MAX_BAD_PACKETS:
                    return
                continue
            for frame in frames:
                stats.decoded += 1
                yield frame
    except av.error.FFmpegError as exc:  # demuxing broke (truncated file): end here
        stats.bad_packets += 1
        stats.last_error = _reason(exc)


def iter_frames(path: Path | str, *, every_s: float = 1.0, max_side: int | None = None,
                stats: DecodeStats | None = None) -> Iterator[VideoFrame]:
    """Yield the first frame and then one frame per ``every_s`` seconds, upright.

    Args:
        path: the video file.
        every_s: sampling interval in seconds (``> 0``).
        max_side: if given, frames are scaled during conversion so that their long
            side is at most this (cheaper than converting at full size).
        stats: optional counters, updated as frames are decoded.

    Yields:
        :class:`VideoFrame` with ``timestamp_ms`` since the first frame and the
        ``(H, W, 3)`` uint8 RGB image with rotation metadata applied.

    Raises:
        VideoDecodeError: no video stream, cannot open, or no frame could be decoded.
        ValueError: if ``every_s`` is not positive.
    """
    if not every_s > 0:
        raise ValueError(f"every_s must be positive, got {every_s}")
    stats = stats if stats is not None else DecodeStats()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t0: float | None = None
        next_t = 0.0
        last_t = -math.inf
        for frame in _decode(container, stream, stats):
            t = _frame_time(frame, last_t, stream)
            if t0 is None:
                t0 = t
            rel = t - t0
            last_t = t
            if rel + 1e-6 < next_t:
                continue
            stats.sampled += 1
            next_t = (math.floor(rel / every_s + 1e-6) + 1) * every_s
            yield VideoFrame(max(0, round(rel * 1000)), _to_rgb(frame, max_side))
        if stats.sampled == 0:
            why = f" ({stats.last_error})" if stats.last_error else ""
            raise VideoDecodeError(f"no decodable video frames{why}")
    finally:
        container.close()


def _frame_time(frame, last_t: float, stream) -> float:
    """Seconds of a frame from ``pts × time_base``; estimated when pts is missing."""
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    rate = stream.average_rate or stream.guessed_rate
    step = 1.0 / float(rate) if rate else 1.0 / 30.0
    return 0.0 if last_t == -math.inf else last_t + step


def _to_rgb(frame, max_side: int | None) -> np.ndarray:
    """Convert a decoded frame to upright ``(H, W, 3)`` uint8 RGB."""
    w, h = frame.width, frame.height
    if max_side is not None and max(w, h) > max_side:
        s = max_side / max(w, h)
        rgb = frame.reformat(width=max(2, round(w * s)), height=max(2, round(h * s)),
                             format="rgb24").to_ndarray()
    else:
        rgb = frame.to_ndarray(format="rgb24")
    k = normalize_rotation(frame.rotation) // 90
    if k:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=k))
    return rgb
