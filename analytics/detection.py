"""Face detection with MTCNN (facenet-pytorch; its weights ship inside the wheel).

:class:`MTCNNDetector` detects faces in several images per call. MTCNN can only batch
images of one size, so images are first downscaled (long side above ``max_side``;
antialiased bilinear, :func:`downscale`), then grouped by size; each group runs as one
batch and the boxes and landmarks are mapped back to original pixels. The three networks
load once per process.

Defaults (all configurable):

| parameter | default | meaning |
| --- | --- | --- |
| ``max_side`` | 1280 | images whose long side exceeds this are downscaled for detection |
| ``min_face_size`` | 40 | smallest face side MTCNN looks for, in (downscaled) pixels |
| ``thresholds`` | (0.6, 0.7, 0.7) | P-Net, R-Net, O-Net acceptance thresholds |
| ``factor`` | 0.709 | scale step of the image pyramid |
| ``score_threshold`` | 0.9 | faces with a final score below this are dropped |

``min_face_size`` 40 (facenet-pytorch's default is 20): a face under 40 px at the 1280 px
analysis size is a poor emotion crop anyway, and P-Net's pyramid work grows with
``(12 / min_face_size)²``, so 40 instead of 20 costs about a quarter of the pyramid. On the
speed benchmark's 16 photos it finds the same 76 faces as 20; JAFFE dev keeps face-found
rate 1.0 (benchmarks/README.md). Pass ``min_face_size=20`` for crowds of small faces.

torch and facenet-pytorch are imported by the functions that run them, not with this module,
so that importing the pipeline (the UI, the CLI) stays light.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from brandmood.core.settings import load_config
from brandmood.core.types import FaceDetections, ModelInfo

DEFAULT_MAX_SIDE = 1280
DEFAULT_MIN_FACE_SIZE = 40
DEFAULT_THRESHOLDS = (0.6, 0.7, 0.7)
DEFAULT_FACTOR = 0.709
DEFAULT_SCORE_THRESHOLD = 0.9
MAX_BATCH = 8
"""Most same-size images MTCNN sees in one forward pass (bounds memory)."""



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

    n = load_config().threads or max(1, (os.cpu_count() or 1) - 1)
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
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:  # pragma: no cover - facenet-pytorch is a dependency
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
        with torch.inference_mode():  # the networks are only read: threads may share them
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

    Bilinear with antialiasing (PyTorch's uint8 kernel, which follows PIL's
    ``resize(BILINEAR)``: values within 1–2 of PIL's, at about a quarter of its CPU time).

    Args:
        image: ``(H, W, 3)`` uint8.
        max_side: longest allowed side.

    Returns:
        The (possibly) resized ``(h, w, 3)`` uint8 image (C-contiguous) and the scales
        ``(w / W, h / H)`` (1.0 when unchanged); divide detection x and y coordinates by
        them to map back.
    """
    import torch

    h, w = image.shape[:2]
    long_side = max(h, w)
    if long_side <= max_side:
        return image, (1.0, 1.0)
    scale = max_side / long_side
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    with warnings.catch_warnings():  # read-only arrays are fine: the tensor is only read
        warnings.simplefilter("ignore", UserWarning)
        src = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        small = _resize_channels_last(src, size)
    return small[0].permute(1, 2, 0).numpy(), (size[1] / w, size[0] / h)


def _resize_channels_last(src, size: tuple[int, int]):
    """``(1, 3, H, W)`` channels-last uint8 → ``(1, 3, h, w)`` channels-last uint8.

    ``F.interpolate`` returns a planar tensor, and making it ``(h, w, 3)`` again costs as
    much as the resize; the kernel's ``out=`` form writes channels-last directly. Falls back
    to ``F.interpolate`` (the same values) where that form is missing.
    """
    import torch

    out = torch.empty((1, *size, 3), dtype=torch.uint8).permute(0, 3, 1, 2)
    try:
        torch.ops.aten._upsample_bilinear2d_aa.out(src, list(size), False, None, None, out=out)
    except (AttributeError, RuntimeError, TypeError):  # pragma: no cover - other torch builds
        resized = torch.nn.functional.interpolate(src, size=size, mode="bilinear",
                                                  antialias=True, align_corners=False)
        out.copy_(resized)
    return out


def mtcnn_batch(nets: _Nets, batch: np.ndarray, *, min_face_size: int,
                thresholds: Sequence[float], factor: float
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """MTCNN over same-size images: batched P-Net pyramid, then R-Net/O-Net per image.

    This follows ``facenet_pytorch``'s ``detect_face`` step for step, except that:

    * the refinement stages run image by image: their non-maximum suppression breaks ties
      between (often saturated) scores by array position, so running them over the
      candidates of several images at once could pick a different box than analyzing
      each image alone. The expensive part, P-Net over the image pyramid, stays batched;
    * every "area" resampling (pyramid levels, R-Net/O-Net candidate crops) is read from
      one summed-area table per picture (:func:`area_resize`, :func:`area_crops`) instead
      of ``F.interpolate(mode="area")`` per level and per candidate: the same window sums,
      exact in integer arithmetic, divided by the window areas in float32 (within 1e-4 of
      ``F.interpolate``, whose float sums round differently), at a fraction of the cost.

    Args:
        nets: the loaded networks.
        batch: ``(n, H, W, 3)`` uint8 RGB.

    Returns:
        Per image: ``(k, 5)`` float32 boxes ``x1, y1, x2, y2, score`` and ``(k, 5, 2)``
        float32 landmarks, in ``batch`` pixels.
    """
    import torch
    from facenet_pytorch.models.utils.detect_face import batched_nms, generateBoundingBox

    n, h, w = batch.shape[:3]
    sats = [integral_image(img) for img in batch]
    m = 12.0 / min_face_size
    minl, scale, scales = min(h, w) * m, m, []
    while minl >= 12:
        scales.append(scale)
        scale, minl = scale * factor, minl * factor
    per_image: list[list] = [[] for _ in range(n)]
    for scale in scales:
        size = (int(h * scale + 1), int(w * scale + 1))
        data = np.empty((n, *size, 3), np.float32)
        for i, sat in enumerate(sats):
            area_resize(sat, size, out=data[i])
        reg, probs = nets.pnet(_nchw(_normalize(data)))
        boxes, inds = generateBoundingBox(reg, probs[:, 1], scale, thresholds[0])
        for i in range(n):
            b = boxes[inds == i]
            zero = torch.zeros(len(b), dtype=torch.int64)
            per_image[i].append(b[batched_nms(b[:, :4], b[:, 4], zero, 0.5)])
    return [_refine(nets, sats[i], torch.cat(per_image[i]), thresholds) for i in range(n)]


def _normalize(pixels: np.ndarray) -> np.ndarray:
    """MTCNN's input scaling ``(x - 127.5) / 128``, in place (float32 array)."""
    pixels -= 127.5
    pixels *= 0.0078125
    return pixels


def integral_image(image: np.ndarray) -> np.ndarray:
    """Summed-area table of one picture (for exact window sums).

    Args:
        image: ``(H, W, 3)`` uint8.

    Returns:
        ``(H + 1, W + 1, 3)`` int32 (int64 where int32 could overflow); entry ``[y, x, c]``
        is the sum of ``image[:y, :x, c]``.
    """
    h, w = image.shape[:2]
    dtype = np.int32 if 255 * h * w < 2**31 else np.int64
    sat = np.zeros((h + 1, w + 1, 3), dtype)
    sat[1:, 1:] = image
    for y in range(2, h + 1):  # row by row: ~10x faster than np.cumsum(axis=0) here
        np.add(sat[y], sat[y - 1], out=sat[y])
    np.cumsum(sat[:, 1:], axis=1, out=sat[:, 1:])  # in place: faster than from uint8
    return sat


def _windows(start: np.ndarray, length: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive-average-pool window bounds (PyTorch's rule) of ``size`` outputs.

    ``start`` and ``length`` are ``(k,)`` int64; returns ``(k, size)`` starts and ends:
    output ``i`` averages ``[floor(i L / size), ceil((i + 1) L / size))`` + start.
    """
    i = np.arange(size + 1, dtype=np.int64)
    lo = start[:, None] + (i[None, :-1] * length[:, None]) // size
    hi = start[:, None] - ((-i[None, 1:] * length[:, None]) // size)
    return lo, hi


def _nchw(nhwc: np.ndarray):
    """``(k, a, b, 3)`` float32 → ``(k, 3, a, b)`` tensor view in channels-last memory.

    The three networks run about 3× faster on channels-last input (oneDNN), which is
    also what ``facenet_pytorch`` feeds them (a permuted ``(n, H, W, 3)`` image).
    """
    import torch

    return torch.from_numpy(nhwc).permute(0, 3, 1, 2)


def area_resize(sat: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None
                ) -> np.ndarray:
    """The whole picture resampled like ``F.interpolate(mode="area")``.

    Window sums from the summed-area table: rows first, then columns.

    Args:
        sat: :func:`integral_image` of an ``(H, W, 3)`` picture.
        size: output ``(h, w)``.
        out: optional ``(h, w, 3)`` float32 array to write into.

    Returns:
        ``(h, w, 3)`` float32 pixel means (``out`` when given).
    """
    zero = np.zeros(1, np.int64)
    y0, y1 = _windows(zero, np.array([sat.shape[0] - 1]), size[0])
    x0, x1 = _windows(zero, np.array([sat.shape[1] - 1]), size[1])
    rows = np.take(sat, y1[0], axis=0)
    rows -= np.take(sat, y0[0], axis=0)
    total = np.take(rows, x1[0], axis=1)
    total -= np.take(rows, x0[0], axis=1)
    if out is None:
        out = np.empty((*size, 3), np.float32)
    out[...] = total
    out *= (1.0 / (y1[0] - y0[0])).astype(np.float32)[:, None, None]
    out *= (1.0 / (x1[0] - x0[0])).astype(np.float32)[None, :, None]
    return out


def area_crops(sat: np.ndarray, rows: tuple[np.ndarray, np.ndarray],
               cols: tuple[np.ndarray, np.ndarray],
               size: int):
    """Pixel regions resampled to ``size``² like ``F.interpolate(mode="area")`` each.

    Args:
        sat: :func:`integral_image` of the picture.
        rows: ``(k,)`` first and one-past-last row of each region (non-empty, in range).
        cols: ``(k,)`` first and one-past-last column of each region.
        size: output side.

    Returns:
        ``(k, 3, size, size)`` float32 tensor (channels-last memory).
    """
    r0, r1 = (np.asarray(a, np.int64) for a in rows)
    c0, c1 = (np.asarray(a, np.int64) for a in cols)
    y0, y1 = _windows(r0, r1 - r0, size)
    x0, x1 = _windows(c0, c1 - c0, size)
    # one gather of every window corner: rows (y0 | y1) x columns (x0 | x1) per region
    ys = np.concatenate([y0, y1], axis=1) * sat.shape[1]
    xs = np.concatenate([x0, x1], axis=1)
    corners = np.take(sat.reshape(-1, 3), ys[:, :, None] + xs[:, None, :], axis=0)
    lo, hi = slice(None, size), slice(size, None)
    total = corners[:, hi, hi] - corners[:, lo, hi]
    total -= corners[:, hi, lo]
    total += corners[:, lo, lo]
    means = total.astype(np.float32)
    means /= ((y1 - y0)[:, :, None] * (x1 - x0)[:, None, :]).astype(np.float32)[..., None]
    return _nchw(means)


def _refine(nets: _Nets, sat, boxes, thresholds: Sequence[float]
            ) -> tuple[np.ndarray, np.ndarray]:
    """R-Net and O-Net stages of ``detect_face`` for one image (its integral image)."""
    import torch
    from facenet_pytorch.models.utils.detect_face import (
        batched_nms,
        batched_nms_numpy,
        bbreg,
        rerec,
    )

    h, w = sat.shape[0] - 1, sat.shape[1] - 1
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
    out = _stage(nets.rnet, sat, boxes, w, h, 24)
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
    out = _stage(nets.onet, sat, boxes, w, h, 48)
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


def _stage(net, sat, boxes, w: int, h: int, size: int):
    """Resample each candidate to ``size`` and run ``net``; None if no crop is valid."""
    from facenet_pytorch.models.utils.detect_face import fixed_batch_process, pad

    y, ey, x, ex = pad(boxes, w, h)
    ok = (ey > y - 1) & (ex > x - 1)
    if not ok.any():
        return None
    crops = area_crops(sat, (y[ok] - 1, ey[ok]), (x[ok] - 1, ex[ok]), size)
    return fixed_batch_process(crops.sub_(127.5).mul_(0.0078125), net)
