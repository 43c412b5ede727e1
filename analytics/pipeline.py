"""Image → faces → aligned crops → emotions, for batches of photos and for videos.

:class:`Analyzer` ties a detector, a classifier and an uncertainty rule together.
:meth:`Analyzer.analyze_images` detects faces in several images in one call, cuts every
face of the batch and classifies the crops of all images together (up to
:data:`CLASSIFY_BATCH` per forward pass); the result equals analyzing each image alone. On
two or more cores, chunks of images are detected in two threads while a third classifies
the crops of the chunks already detected (same results).
:meth:`Analyzer.analyze_video` streams sampled frames in small batches, links faces into
tracks and summarizes the video.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from analytics.align import crop_faces
from analytics.classifiers.base import EmotionClassifier
from analytics.classifiers.registry import get_classifier
from analytics.detection import MTCNNDetector, configure_torch_threads
from analytics.fairness import with_ita
from analytics.images import load_image
from analytics.tracks import FaceTracker
from analytics.uncertainty import DEFAULT_RULE, UncertaintyRule, classifier_rule
from analytics.video import DecodeStats, VideoInfo, iter_frames, probe_video
from analytics.video_summary import VideoSummary, summarize_video
from brandmood.core.settings import load_config
from brandmood.core.types import N_EMOTIONS, FaceDetections, ModelInfo

T = TypeVar("T")

ImageSource = np.ndarray | Path | str
"""An image for :meth:`Analyzer.analyze_images`: decoded pixels or a file to decode."""

VIDEO_FRAME_BATCH = 4
"""Sampled video frames analyzed together (bounds memory: a few frames at a time)."""

CLASSIFY_BATCH = 64
"""Most face crops per classifier call (bounds memory for large models and crowds)."""

OVERLAP_CHUNK = 1
"""Images detected per step when detection and classification overlap (see ``overlap``).

One: MTCNN only batches images of the same size (rare in social media), and single images
keep both detection threads and the classifier busy until the end of a call (measured on
the speed benchmark's photos: about 8% less wall time than two)."""

OVERLAP_PENDING = 2
"""Most chunks of crops waiting for the classifier thread (bounds memory)."""

VIDEO_MAX_SIDE = 640
"""Video frames are converted at most this long side (boxes are mapped back to full pixels).

Detection cost grows with the frame area; at 640 px a 1080p frame costs about a third of
the photo setting (1280 px) and the smallest face found (the detector's ``min_face_size``,
40 px by default) is 120 px in 1080p, a video's subject rather than its background crowd.
Pass ``video_max_side=1280`` (about the same detection cost as 640 with
``min_face_size=20``) to find faces down to 60 px in 1080p.
"""


class FaceDetector(Protocol):
    """Finds faces in a batch of images (see :class:`analytics.detection.MTCNNDetector`)."""

    info: ModelInfo

    def detect(self, images: Sequence[np.ndarray]) -> list[FaceDetections]: ...


@dataclass
class StageTimings:
    """Seconds spent per stage, accumulated over calls.

    With :attr:`Analyzer.overlap` on, classification runs while detection does, so the
    stages can add up to more than the wall time.
    """

    decode_s: float = 0.0
    detect_s: float = 0.0
    crop_s: float = 0.0
    classify_s: float = 0.0
    ita_s: float = 0.0
    images: int = 0
    faces: int = 0

    def to_json(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class AnalyzedFrame:
    """One sampled video frame and its tracked, classified faces."""

    timestamp_ms: int
    faces: FaceDetections


@dataclass(frozen=True)
class VideoAnalysis:
    """Everything found in one video."""

    info: VideoInfo
    frames: tuple[AnalyzedFrame, ...]
    summary: VideoSummary
    decode: DecodeStats = field(compare=False)


class Analyzer:
    """Detector + classifier + uncertainty rule.

    Args:
        detector: batched face detector.
        classifier: emotion classifier (``predict(crops (n,S,S,3)) -> (n,8)``).
        rule: which answers count as uncertain.
        video_max_side: long side video frames are analyzed at (None: full size).
        overlap: classify one chunk of images in a worker thread while the next is being
            detected (None: on when the machine has at least two cores). The results equal
            the sequential path's.
    """

    def __init__(self, detector: FaceDetector, classifier: EmotionClassifier,
                 rule: UncertaintyRule = DEFAULT_RULE, *,
                 video_max_side: int | None = VIDEO_MAX_SIDE,
                 overlap: bool | None = None) -> None:
        if video_max_side is not None and video_max_side < 64:
            raise ValueError(f"video_max_side must be at least 64, got {video_max_side}")
        self.detector = detector
        self.classifier = classifier
        self.rule = rule
        self.video_max_side = video_max_side
        self.overlap = (os.cpu_count() or 1) >= 2 if overlap is None else bool(overlap)
        self.timings = StageTimings()
        self._lock = threading.Lock()
        self._timing_lock = threading.Lock()

    @property
    def parameters(self) -> dict[str, object]:
        """Detector and rule settings, as recorded on an analysis run."""
        det = getattr(self.detector, "parameters", {})
        spec = self.classifier.input_spec
        return {"detector": dict(det), "min_confidence": self.rule.min_confidence,
                "min_margin": self.rule.min_margin, "crop_size": spec.size,
                "crop_margin": spec.margin, "video_max_side": self.video_max_side}

    def analyze_images(self, images: Sequence[ImageSource]) -> list[FaceDetections]:
        """Detect and classify every face of several images at once.

        With :attr:`overlap` on, images are detected :data:`OVERLAP_CHUNK` at a time in
        :func:`detect_workers` threads and each chunk's crops are classified in one more
        thread as soon as the chunk is done (torch, NumPy and TFLite release the GIL, so
        both cores work). The result is the same as the sequential path's (detection is per
        image; classification only regroups the crops into batches).

        Args:
            images: ``(H, W, 3)`` uint8 RGB arrays of any sizes, or image files, decoded
                (:func:`analytics.images.load_image`) where they are detected, so with
                overlap on, decoding runs in the detection threads too.

        Returns:
            One :class:`FaceDetections` per image with probabilities ``(n, 8)``,
            uncertainty flags and both models' info.

        Raises:
            analytics.images.ImageDecodeError: a file that cannot be decoded (callers that
                must fail one file and go on decode first, as the analysis job does).
        """
        images = list(images)
        with self._lock:
            if self.overlap and len(images) > OVERLAP_CHUNK:
                dets, probs = self._detect_classify_overlapped(images)
            else:
                dets, probs = self._detect_classify(images)
            flags = self.rule.flags(probs) if len(probs) else np.zeros(0, bool)
            out, start = [], 0
            for d in dets:
                n = len(d)
                out.append(d.with_emotions(probs[start:start + n], flags[start:start + n],
                                           self.classifier.info))
                start += n
            self.timings.images += len(dets)
            self.timings.faces += start
            return out

    def _detect_crop(self, sources: list[ImageSource]
                     ) -> tuple[list[FaceDetections], np.ndarray]:
        """Decode any paths, detect, and cut all crops ``(n, S, S, 3)`` (timed); each
        detection carries its faces' skin-tone angles (``extra["ita"]``, ``(n,)``)."""
        t = time.perf_counter()
        images = [load_image(s) if isinstance(s, (str, Path)) else s for s in sources]
        t0 = time.perf_counter()
        dets = self.detector.detect(images)
        t1 = time.perf_counter()
        spec = self.classifier.input_spec
        crops = [crop_faces(img, d, spec) for img, d in zip(images, dets, strict=True)]
        t2 = time.perf_counter()
        # the skin-tone estimate of each face (analytics.fairness), kept in ``extra``
        dets = [with_ita(img, d) for img, d in zip(images, dets, strict=True)]
        with self._timing_lock:  # detection may run in several threads
            self.timings.decode_s += t0 - t
            self.timings.detect_s += t1 - t0
            self.timings.crop_s += t2 - t1
            self.timings.ita_s += time.perf_counter() - t2
        return dets, (np.concatenate(crops) if crops else
                      np.zeros((0, spec.size, spec.size, 3), np.uint8))

    def _timed_classify(self, crops: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        probs = self._classify(crops)
        self.timings.classify_s += time.perf_counter() - t0
        return probs

    def _detect_classify(self, images: list[ImageSource]
                         ) -> tuple[list[FaceDetections], np.ndarray]:
        """Sequential path: detect all images, then classify all crops ``-> (n, 8)``."""
        dets, crops = self._detect_crop(images)
        return dets, self._timed_classify(crops)

    def _detect_classify_overlapped(self, images: list[ImageSource]
                                    ) -> tuple[list[FaceDetections], np.ndarray]:
        """Detect chunks in :func:`detect_workers` threads while one more classifies.

        Chunks are collected in order, so the result equals the sequential path's; at most
        ``workers + OVERLAP_PENDING`` chunks are in flight (bounded memory).
        """
        workers = detect_workers()
        chunks = [images[s:s + OVERLAP_CHUNK] for s in range(0, len(images), OVERLAP_CHUNK)]
        dets: list[FaceDetections] = []
        detecting: deque[Future] = deque()
        classifying: deque[Future] = deque()
        done: list[np.ndarray] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detect") as dpool, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify") as cpool:
            try:
                todo = iter(chunks)
                for chunk in todo:
                    detecting.append(dpool.submit(self._detect_crop, chunk))
                    if len(detecting) >= workers:
                        break
                while detecting:
                    chunk_dets, crops = detecting.popleft().result()
                    nxt = next(todo, None)
                    if nxt is not None:
                        detecting.append(dpool.submit(self._detect_crop, nxt))
                    dets.extend(chunk_dets)
                    while len(classifying) >= OVERLAP_PENDING:
                        done.append(classifying.popleft().result())
                    classifying.append(cpool.submit(self._timed_classify, crops))
                while classifying:
                    done.append(classifying.popleft().result())
            finally:
                for f in (*detecting, *classifying):
                    f.cancel()
        return dets, np.concatenate(done)

    def _classify(self, crops: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` crops → ``(n, 8)``, at most :data:`CLASSIFY_BATCH` per call."""
        parts = [np.zeros((0, N_EMOTIONS), np.float32)]
        for start in range(0, len(crops), CLASSIFY_BATCH):
            chunk = crops[start:start + CLASSIFY_BATCH]
            probs = np.asarray(self.classifier.predict(chunk), np.float32)
            if probs.shape != (len(chunk), N_EMOTIONS):
                raise ValueError(f"{self.classifier.info.label} returned shape {probs.shape}, "
                                 f"expected {(len(chunk), N_EMOTIONS)}")
            parts.append(probs)
        return np.concatenate(parts)

    def analyze_video(self, path: Path | str, *, every_s: float = 1.0,
                      batch: int = VIDEO_FRAME_BATCH,
                      tracker: FaceTracker | None = None) -> VideoAnalysis:
        """Analyze sampled frames of a video, streamed a few at a time.

        Args:
            path: the video file.
            every_s: seconds between sampled frames (the first frame is always sampled).
            batch: sampled frames analyzed together.
            tracker: links faces across frames (default :class:`FaceTracker`).

        Raises:
            analytics.video.VideoDecodeError: no video stream or no decodable frame.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        info = probe_video(path)
        tracker = tracker or FaceTracker()
        stats = DecodeStats()
        frames: list[AnalyzedFrame] = []
        pending: list = []
        t = time.perf_counter()
        source = iter_frames(path, every_s=every_s, max_side=self.video_max_side, stats=stats)
        for vf in prefetch(source, 2 * batch):
            pending.append(vf)
            if len(pending) >= batch:
                self.timings.decode_s += time.perf_counter() - t
                frames.extend(self._video_batch(pending, tracker, info))
                pending = []
                t = time.perf_counter()
        self.timings.decode_s += time.perf_counter() - t
        if pending:
            frames.extend(self._video_batch(pending, tracker, info))
        summary = summarize_video([(f.timestamp_ms, f.faces) for f in frames], every_s=every_s)
        return VideoAnalysis(info=info, frames=tuple(frames), summary=summary, decode=stats)

    def _video_batch(self, batch: list, tracker: FaceTracker,
                     info: VideoInfo) -> list[AnalyzedFrame]:
        results = self.analyze_images([vf.image for vf in batch])
        out = []
        for vf, faces in zip(batch, results, strict=True):
            h, w = vf.image.shape[:2]
            full = scale_faces(faces, (info.width or w) / w, (info.height or h) / h)
            out.append(AnalyzedFrame(vf.timestamp_ms, tracker.update(vf.timestamp_ms, full)))
        return out


_DONE = object()


def prefetch(items: Iterator[T], size: int) -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``size`` ahead of the consumer.

    Video decoding (PyAV releases the GIL) then overlaps with detection; memory stays
    bounded by ``size`` frames. Errors in the producer are raised in the consumer; a
    consumer that stops early stops the producer.
    """
    buf: queue.Queue = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buf.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
        except BaseException as exc:  # handed to the consumer
            put(_Failure(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
            put(_DONE)

    worker = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    worker.start()
    try:
        while (item := buf.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join(timeout=10)


@dataclass(frozen=True)
class _Failure:
    exc: BaseException


def detect_workers() -> int:
    """Threads that detect faces at once in :meth:`Analyzer.analyze_images` (overlap on).

    Two where torch runs each operation on a single thread (the default on two cores:
    ``BRANDMOOD_THREADS`` = cores − 1), so both cores detect while a third thread
    classifies; one where torch's own threads already fill the machine.
    """
    cores = os.cpu_count() or 1
    return 2 if cores >= 2 and configure_torch_threads() * 2 <= cores else 1


def scale_faces(faces: FaceDetections, sx: float, sy: float) -> FaceDetections:
    """Boxes and landmarks multiplied by ``(sx, sy)`` (e.g. analysis size → full video size)."""
    if sx == 1.0 and sy == 1.0:
        return faces
    k = np.array([sx, sy], np.float32)
    return replace(faces, boxes=faces.boxes * np.tile(k, 2), landmarks=faces.landmarks * k)


@lru_cache(maxsize=4)
def _cached_analyzer(model: str) -> Analyzer:
    clf = get_classifier(model)
    return Analyzer(MTCNNDetector(), clf, classifier_rule(clf))


def default_analyzer(model: str | None = None) -> Analyzer:
    """The analyzer for ``model`` (None → ``BRANDMOOD_MODEL`` or the registry default).

    Weights load once per process; later calls with the same model return the same
    analyzer.
    """
    name = (model or load_config().model).strip()
    return _cached_analyzer(name)
