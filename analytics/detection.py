"""Face detection with MTCNN (facenet-pytorch; its weights ship inside the wheel).

:class:`MTCNNDetector` detects faces in several images per call. MTCNN can only batch
images of one size, so images are first downscaled (long side above ``max_side``), then
grouped by size; each group runs as one batch and the boxes and landmarks are mapped
back to original pixels. The three networks load once per process.

Defaults (all configurable):

| parameter | default | meaning |
| --- | --- | --- |
| ``max_side`` | 1280 | images whose long side exceeds this are downscaled for detection |
| ``min_face_size`` | 20 | smallest face side MTCNN looks for, in (downscaled) pixels |
| ``thresholds`` | (0.6, 0.7, 0.7) | P-Net, R-Net, O-Net acceptance thresholds |
| ``factor`` | 0.709 | scale step of the image pyramid |
| ``score_threshold`` | 0.9 | faces with a final score below this are dropped |
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from analytics.types import FaceDetections, ModelInfo

DEFAULT_MAX_SIDE = 1280
DEFAULT_MIN_FACE_SIZE = 20
DEFAULT_THRESHOLDS = (0.6, 0.7, 0.7)
DEFAULT_FACTOR = 0.709
DEFAULT_SCORE_THRESHOLD = 0.9
MAX_BATCH = 8
"""Most same-size images MTCNN sees in one forward pass (bounds memory)."""

_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Nets:
    pnet: object
    rnet: object
    onet: object
    info: ModelInfo


def configure_torch_threads() -> int:
    """Set torch's intra-op threads once; returns the count.

    ``BRANDMOOD_THREADS`` wins; the default is every core but one (one on a 2-core
    machine). MTCNN runs many small operations whose OpenMP threads spin while they
    wait: on a busy 2-core machine two threads were measured 4–6× *slower* per image
    than one, and the spare core keeps video decoding (its own threads) and the
    dashboard responsive.
    """
    import torch

    wanted = os.environ.get("BRANDMOOD_THREADS", "")
    cores = os.cpu_count() or 1
    n = int(wanted) if wanted.isdigit() and int(wanted) > 0 else max(1, cores - 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


@cache
def _load_nets() -> _Nets:
    """Load P-Net, R-Net and O-Net once per process (weights from the wheel)."""
    import facenet_pytorch
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    configure_torch_threads()
    nets = [cls().eval() for cls in (PNet, RNet, ONet)]
    data = Path(facenet_pytorch.__file__).parent / "data"
    h = hashlib.sha256()
    for name in ("pnet.pt", "rnet.pt", "onet.pt"):
        h.update(hashlib.sha256((data / name).read_bytes()).digest())
    version = getattr(facenet_pytorch, "__version__", "") or _dist_version("facenet-pytorch")
    info = ModelInfo("mtcnn", f"facenet-pytorch-{version}", h.hexdigest())
    return _Nets(*nets, info=info)


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover - facenet-pytorch is a dependency
        return "unknown"


class MTCNNDetector:
    """Batched MTCNN face detector.

    Args:
        max_side: long side above which an image is downscaled before detection.
        min_face_size: smallest face MTCNN searches for, in detection pixels.
        thresholds: P-Net, R-Net and O-Net thresholds, each in ``(0, 1)``.
        factor: image-pyramid scale step in ``(0, 1)``.
        score_threshold: minimum final face score kept, in ``[0, 1]``.

    Raises:
        ValueError: for out-of-range parameters.
    """

    def __init__(self, *, max_side: int = DEFAULT_MAX_SIDE,
                 min_face_size: int = DEFAULT_MIN_FACE_SIZE,
                 thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS,
                 factor: float = DEFAULT_FACTOR,
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> None:
        if max_side < 64:
            raise ValueError(f"max_side must be at least 64, got {max_side}")
        if min_face_size < 12:
            raise ValueError(f"min_face_size must be at least 12 pixels, got {min_face_size}")
        if len(thresholds) != 3 or not all(0.0 < t < 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be three numbers in (0, 1), got {thresholds}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        self.max_side = int(max_side)
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        self.score_threshold = float(score_threshold)
        self._nets = _load_nets()
        self.info: ModelInfo = self._nets.info

    @property
    def parameters(self) -> dict[str, object]:
        """The settings, as recorded on an analysis run."""
        return {"max_side": self.max_side, "min_face_size": self.min_face_size,
                "thresholds": list(self.thresholds), "factor": self.factor,
                "score_threshold": self.score_threshold}

    def detect(self, images: Sequence[np.ndarray]) -> list[FaceDetections]:
        """Find faces in each image.

        Args:
            images: ``(H, W, 3)`` uint8 RGB arrays, any sizes.

        Returns:
            One :class:`FaceDetections` per image, in order, boxes and landmarks in
            original pixels, boxes clipped to the image, faces sorted by score.

        Raises:
            ValueError: if an image is not ``(H, W, 3)`` uint8.
        """
        prepared = [self._prepare(i, img) for i, img in enumerate(images)]
        out: list[FaceDetections | None] = [None] * len(prepared)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (small, _scale) in enumerate(prepared):
            groups.setdefault(small.shape[:2], []).append(i)
        for idxs in groups.values():
            for start in range(0, len(idxs), MAX_BATCH):
                chunk = idxs[start:start + MAX_BATCH]
                batch = np.stack([prepared[i][0] for i in chunk])
                raw = self._run(batch)
                for i, (boxes, points) in zip(chunk, raw, strict=True):
                    out[i] = self._finish(boxes, points, prepared[i][1], images[i].shape)
        return [d for d in out if d is not None]

    def _prepare(self, index: int, img: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        arr = np.asarray(img)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"image {index} must be (H, W, 3) uint8 RGB, "
                             f"got {arr.shape} {arr.dtype}")
        if min(arr.shape[:2]) < 1:
            raise ValueError(f"image {index} is empty: {arr.shape}")
        return downscale(arr, self.max_side)

    def _run(self, batch: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        import torch

        h, w = batch.shape[1:3]
        if min(h, w) < 12:  # smaller than one P-Net window: no face can be found
            return [(np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32))] * len(batch)
        with _LOCK, torch.inference_mode():
            return mtcnn_batch(self._nets, batch, min_face_size=self.min_face_size,
                               thresholds=self.thresholds, factor=self.factor)

    def _finish(self, boxes: np.ndarray, points: np.ndarray, scale: tuple[float, float],
                shape: tuple[int, ...]) -> FaceDetections:
        h, w = shape[:2]
        sx, sy = scale
        scores = np.clip(boxes[:, 4], 0.0, 1.0)
        xyxy = boxes[:, :4] / np.array([sx, sy, sx, sy], np.float32)
        lm = points / np.array([sx, sy], np.float32)
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0.0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0.0, h)
        keep = ((scores >= self.score_threshold) & (xyxy[:, 2] - xyxy[:, 0] >= 1.0)
                & (xyxy[:, 3] - xyxy[:, 1] >= 1.0))
        order = np.argsort(-scores[keep], kind="stable")
        return FaceDetections.create(xyxy[keep][order], scores[keep][order], lm[keep][order],
                                     detector=self.info)


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Shrink an image so its long side is at most ``max_side``.

    Args:
        image: ``(H, W, 3)`` uint8.
        max_side: longest allowed side.

    Returns:
        The (possibly) resized ``(h, w, 3)`` uint8 image and the scales ``(w / W, h / H)``
        (1.0 when unchanged); divide detection x and y coordinates by them to map back.
    """
    h, w = image.shape[:2]
    long_side = max(h, w)
    if long_side <= max_side:
        return image, (1.0, 1.0)
    scale = max_side / long_side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small), (size[0] / w, size[1] / h)


def mtcnn_batch(nets: _Nets, batch: np.ndarray, *, min_face_size: int,
                thresholds: Sequence[float], factor: float
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """MTCNN over same-size images: batched P-Net pyramid, then R-Net/O-Net per image.

    This follows ``facenet_pytorch``'s ``detect_face`` step for step, except that the
    refinement stages run image by image: their non-maximum suppression breaks ties
    between (often saturated) scores by array position, so running them over the
    candidates of several images at once could pick a different box than analyzing
    each image alone. The expensive part, P-Net over the image pyramid, stays batched.

    Args:
        nets: the loaded networks.
        batch: ``(n, H, W, 3)`` uint8 RGB.

    Returns:
        Per image: ``(k, 5)`` float32 boxes ``x1, y1, x2, y2, score`` and ``(k, 5, 2)``
        float32 landmarks, in ``batch`` pixels.
    """
    import torch
    from facenet_pytorch.models.utils.detect_face import (
        batched_nms,
        generateBoundingBox,
        imresample,
    )

    imgs = torch.as_tensor(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()
    n, h, w = imgs.shape[0], imgs.shape[2], imgs.shape[3]
    m = 12.0 / min_face_size
    minl, scale, scales = min(h, w) * m, m, []
    while minl >= 12:
        scales.append(scale)
        scale, minl = scale * factor, minl * factor
    per_image: list[list] = [[] for _ in range(n)]
    for scale in scales:
        data = imresample(imgs, (int(h * scale + 1), int(w * scale + 1)))
        reg, probs = nets.pnet((data - 127.5) * 0.0078125)
        boxes, inds = generateBoundingBox(reg, probs[:, 1], scale, thresholds[0])
        for i in range(n):
            b = boxes[inds == i]
            zero = torch.zeros(len(b), dtype=torch.int64)
            per_image[i].append(b[batched_nms(b[:, :4], b[:, 4], zero, 0.5)])
    return [_refine(nets, imgs[i:i + 1], torch.cat(per_image[i]), thresholds)
            for i in range(n)]


def _refine(nets: _Nets, img, boxes, thresholds: Sequence[float]
            ) -> tuple[np.ndarray, np.ndarray]:
    """R-Net and O-Net stages of ``detect_face`` for one image ``(1, 3, H, W)`` float."""
    import torch
    from facenet_pytorch.models.utils.detect_face import (
        batched_nms,
        batched_nms_numpy,
        bbreg,
        rerec,
    )

    h, w = img.shape[2], img.shape[3]
    empty = (np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32))
    zeros = torch.zeros(len(boxes), dtype=torch.int64)
    boxes = boxes[batched_nms(boxes[:, :4], boxes[:, 4], zeros, 0.7)]
    if len(boxes) == 0:
        return empty
    regw, regh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    boxes = torch.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
                         boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh,
                         boxes[:, 4]]).permute(1, 0)
    boxes = rerec(boxes)
    # second stage (R-Net, 24x24)
    out = _stage(nets.rnet, img, boxes, w, h, 24)
    if out is None:
        return empty
    score = out[1].permute(1, 0)[1, :]
    ipass = score > thresholds[1]
    boxes = torch.cat((boxes[ipass, :4], score[ipass].unsqueeze(1)), dim=1)
    mv = out[0].permute(1, 0)[:, ipass].permute(1, 0)
    pick = batched_nms(boxes[:, :4], boxes[:, 4], torch.zeros(len(boxes), dtype=torch.int64), 0.7)
    boxes = rerec(bbreg(boxes[pick], mv[pick]))
    if len(boxes) == 0:
        return empty
    # third stage (O-Net, 48x48) with landmarks
    out = _stage(nets.onet, img, boxes, w, h, 48)
    if out is None:
        return empty
    score = out[2].permute(1, 0)[1, :]
    ipass = score > thresholds[2]
    points = out[1].permute(1, 0)[:, ipass]
    boxes = torch.cat((boxes[ipass, :4], score[ipass].unsqueeze(1)), dim=1)
    mv = out[0].permute(1, 0)[:, ipass].permute(1, 0)
    w_i, h_i = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    px = w_i.repeat(5, 1) * points[:5, :] + boxes[:, 0].repeat(5, 1) - 1
    py = h_i.repeat(5, 1) * points[5:10, :] + boxes[:, 1].repeat(5, 1) - 1
    points = torch.stack((px, py)).permute(2, 1, 0)
    boxes = bbreg(boxes, mv)
    pick = batched_nms_numpy(boxes[:, :4], boxes[:, 4], torch.zeros(len(boxes), dtype=torch.int64),
                             0.7, "Min")
    return (boxes[pick].numpy().astype(np.float32).reshape(-1, 5),
            points[pick].numpy().astype(np.float32).reshape(-1, 5, 2))


def _stage(net, img, boxes, w: int, h: int, size: int):
    """Resample each candidate to ``size`` and run ``net``; None if no crop is valid."""
    import torch
    from facenet_pytorch.models.utils.detect_face import fixed_batch_process, imresample, pad

    y, ey, x, ex = pad(boxes, w, h)
    crops = [imresample(img[:, :, (y[k] - 1):ey[k], (x[k] - 1):ex[k]], (size, size))
             for k in range(len(y)) if ey[k] > (y[k] - 1) and ex[k] > (x[k] - 1)]
    if not crops:
        return None
    return fixed_batch_process((torch.cat(crops, dim=0) - 127.5) * 0.0078125, net)
