"""The analysis of a batch of work items: the one code path every engine runs.

Images are read from the media store and decoded one batch ahead in a background thread
(Pillow releases the GIL), then analyzed together, at most :data:`BATCH_PIXELS` at a
time; if the batch's analysis fails, its images are analyzed one by one so only the bad
one fails. Videos are analyzed one by one, streamed from a local file (the store's own
file, or a temporary download from a bucket). An item that cannot be read or decoded
becomes a result with its reason; nothing here raises for one bad item.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np

from analytics.images import ImageDecodeError, load_image
from analytics.pipeline import Analyzer, prefetch
from analytics.video import VideoDecodeError
from brandmood.core.types import FaceDetections
from brandmood.services.engines.base import ItemResult, WorkItem
from db.media_store import MediaStore, MediaStoreError
from db.models import AssetKind

log = logging.getLogger(__name__)

IMAGE_BATCH = 8
"""Items per batch: their images are decoded and analyzed together."""
BATCH_PIXELS = 40_000_000
"""A batch is analyzed early once its decoded images hold this many pixels (memory bound)."""

DECODE_ERRORS = (ImageDecodeError, VideoDecodeError, MediaStoreError, FileNotFoundError,
                 OSError)


def analyze_items(analyzer: Analyzer, media: MediaStore, items: Sequence[WorkItem], *,
                  every_s: float) -> list[ItemResult]:
    """Analyze one batch: images together, then videos one by one.

    The batch's stage timings (the analyzer's, plus ``read_s``: reading images from the
    media store, a part of ``decode_s``) ride on its first result.

    Returns:
        One result per item (images first, in order, then videos).
    """
    before = analyzer.timings.to_json()
    images = [i for i in items if i.kind is not AssetKind.VIDEO]
    videos = [i for i in items if i.kind is AssetKind.VIDEO]
    batch = _Batch(analyzer, media)
    results = batch.images(images)
    results += [_video(analyzer, media, item, every_s) for item in videos]
    after = analyzer.timings.to_json()
    if results:
        delta = {k: round(after[k] - before.get(k, 0.0), 6) for k in after}
        delta["read_s"] = round(batch.read_s, 6)
        results[0] = replace(results[0], timings=delta)
    return results


class _Batch:
    def __init__(self, analyzer: Analyzer, media: MediaStore) -> None:
        self.analyzer, self.media = analyzer, media
        self.out: list[ItemResult] = []
        self.read_s = 0.0

    def images(self, items: list[WorkItem]) -> list[ItemResult]:
        decoded: list[tuple[WorkItem, np.ndarray, float]] = []
        pixels = 0
        for item, image, error, seconds in prefetch(self._decode(items), IMAGE_BATCH):
            if error is not None:
                self.out.append(ItemResult(item.key, error=reason(error), seconds=seconds))
                continue
            self.analyzer.timings.decode_s += seconds
            decoded.append((item, image, seconds))
            pixels += image.shape[0] * image.shape[1]
            if pixels >= BATCH_PIXELS:
                self._analyze(decoded)
                decoded, pixels = [], 0
        self._analyze(decoded)
        return self.out

    def _decode(self, items: list[WorkItem]
                ) -> Iterator[tuple[WorkItem, np.ndarray | None, Exception | None, float]]:
        """``(item, image or None, error or None, seconds)`` per item."""
        for item in items:
            t = time.perf_counter()
            try:
                data = self.media.read_bytes(item.media_path)
                self.read_s += time.perf_counter() - t
                image = load_image(data)
            except DECODE_ERRORS as exc:
                yield item, None, exc, time.perf_counter() - t
                continue
            yield item, image, None, time.perf_counter() - t

    def _analyze(self, decoded: list[tuple[WorkItem, np.ndarray, float]]) -> None:
        if not decoded:
            return
        t = time.perf_counter()
        try:
            found = self.analyzer.analyze_images([img for _, img, _ in decoded])
        except Exception:  # find the one bad image, the others go on
            log.exception("batch analysis failed; retrying image by image")
            for item in decoded:
                self._alone(*item)
            return
        share = (time.perf_counter() - t) / len(decoded)
        for (item, _img, dt), faces in zip(decoded, found, strict=True):
            self.out.append(_image_result(item, faces, dt + share))

    def _alone(self, item: WorkItem, image: np.ndarray, seconds: float) -> None:
        t = time.perf_counter()
        try:
            faces = self.analyzer.analyze_images([image])[0]
        except Exception as exc:  # this item fails with the reason
            log.exception("analysis of %s failed", item.media_path)
            self.out.append(ItemResult(
                item.key, error=f"analysis error: {type(exc).__name__}: {reason(exc)}",
                seconds=seconds + time.perf_counter() - t))
            return
        self.out.append(_image_result(item, faces, seconds + time.perf_counter() - t))


def _image_result(item: WorkItem, faces: FaceDetections, seconds: float) -> ItemResult:
    summary = {"kind": "image", "n_faces": len(faces), "uncertain": int(faces.uncertain.sum())}
    return ItemResult(item.key, ((0, faces),), summary, seconds)


def _video(analyzer: Analyzer, media: MediaStore, item: WorkItem,
           every_s: float) -> ItemResult:
    t = time.perf_counter()
    try:
        with media.local_path(item.media_path) as path:
            result = analyzer.analyze_video(path, every_s=every_s)
    except DECODE_ERRORS as exc:
        return ItemResult(item.key, error=reason(exc), seconds=time.perf_counter() - t)
    except Exception as exc:  # e.g. a decoder error mid-stream
        log.exception("analysis of video %s failed", item.media_path)
        return ItemResult(item.key, error=f"analysis error: {type(exc).__name__}: "
                          f"{reason(exc)}", seconds=time.perf_counter() - t)
    summary = result.summary.to_json()
    summary.update(kind="video", duration_s=result.info.duration_s, fps=result.info.fps,
                   rotation=result.info.rotation, bad_packets=result.decode.bad_packets)
    frames = tuple((f.timestamp_ms, f.faces) for f in result.frames)
    return ItemResult(item.key, frames, summary, time.perf_counter() - t)


def reason(exc: BaseException) -> str:
    """The first line of an error's message (at most 500 characters)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
