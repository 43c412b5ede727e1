"""Cut aligned, square face crops for a classifier.

Each face is rotated so its eyes are level (an affine transform from the two eye
landmarks), cut as a square around the detector's box with a margin, and resized to the
model's input size. Where the landmarks are unknown (NaN) the crop is the plain square
around the box. The geometry is computed for all faces at once; the sampling is done
per face by Pillow on a small region that is first reduced with an antialiasing filter,
so large faces do not alias when shrunk to 48–64 pixels.

The crop side is ``max(box width, box height) × (1 + 2 × margin)``: ``margin`` is the
extra context on *each* side as a fraction of the box size (``InputSpec.margin``). A negative
margin cuts inside the box's longer side (MTCNN boxes are about 0.73 times as wide as they
are tall, so ``-0.1`` gives a square about as wide as the box: the tight crop face-api's
expression model reads best; docs/models.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from analytics.classifiers.base import InputSpec
from brandmood.core.types import FaceDetections

LEFT_EYE, RIGHT_EYE = 0, 1


@dataclass(frozen=True)
class CropGeometry:
    """Where each face crop comes from in the source image.

    Attributes:
        centers: ``(n, 2)`` float64 crop centers ``(x, y)`` in source pixels.
        sides: ``(n,)`` float64 crop side lengths in source pixels.
        angles: ``(n,)`` float64 rotation of the eye line in radians (0 where unknown).
    """

    centers: np.ndarray
    sides: np.ndarray
    angles: np.ndarray

    def affines(self, size: int) -> np.ndarray:
        """``(n, 2, 3)`` maps from output crop coordinates to source coordinates."""
        k = self.sides / size
        cos, sin = np.cos(self.angles) * k, np.sin(self.angles) * k
        half = size / 2.0
        m = np.empty((len(k), 2, 3), np.float64)
        m[:, 0, 0], m[:, 0, 1] = cos, -sin
        m[:, 1, 0], m[:, 1, 1] = sin, cos
        m[:, 0, 2] = self.centers[:, 0] - half * (cos - sin)
        m[:, 1, 2] = self.centers[:, 1] - half * (sin + cos)
        return m


def crop_geometry(faces: FaceDetections, margin: float) -> CropGeometry:
    """Compute crop centers, sides and eye-line angles for every face.

    Args:
        faces: detections with boxes ``(n, 4)`` and landmarks ``(n, 5, 2)``.
        margin: context on each side as a fraction of the box size (``> -0.5``; negative
            cuts inside the box).

    Raises:
        ValueError: for a margin of -0.5 or less (an empty crop), or not finite.
    """
    if not (np.isfinite(margin) and margin > -0.5):
        raise ValueError(f"margin must be > -0.5, got {margin}")
    boxes = faces.boxes.astype(np.float64)
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    wh = np.clip(boxes[:, 2:] - boxes[:, :2], 1.0, None)
    sides = wh.max(axis=1) * (1.0 + 2.0 * margin)
    eyes = faces.landmarks[:, [LEFT_EYE, RIGHT_EYE]].astype(np.float64)
    d = eyes[:, 1] - eyes[:, 0]
    known = np.isfinite(d).all(axis=1) & (np.hypot(d[:, 0], d[:, 1]) > 1e-6)
    angles = np.where(known, np.arctan2(np.where(known, d[:, 1], 0.0),
                                        np.where(known, d[:, 0], 1.0)), 0.0)
    return CropGeometry(centers=centers, sides=sides, angles=angles)


def crop_faces(image: np.ndarray, faces: FaceDetections, spec: InputSpec) -> np.ndarray:
    """Aligned square crops of every face.

    Args:
        image: ``(H, W, 3)`` uint8 RGB source image.
        faces: the faces found in it (boxes and landmarks in its pixels).
        spec: the classifier's input size and margin.

    Returns:
        ``(n, S, S, 3)`` uint8 RGB crops, ``S == spec.size``, eyes level.

    Raises:
        ValueError: if the image is not ``(H, W, 3)`` uint8 or the size is not positive.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {arr.shape} {arr.dtype}")
    size = int(spec.size)
    if size < 1:
        raise ValueError(f"crop size must be positive, got {spec.size}")
    out = np.empty((len(faces), size, size, 3), np.uint8)
    if len(faces) == 0:
        return out
    geometry = crop_geometry(faces, spec.margin)
    for i, m in enumerate(geometry.affines(size)):
        out[i] = _sample(arr, m, size)
    return out


def _sample(image: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Sample one ``(size, size, 3)`` crop with the output→source affine ``m`` (2, 3)."""
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    src = corners @ m.T
    x0, y0 = np.floor(src.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(src.max(axis=0)).astype(int) + 2
    region = _padded_region(image, x0, y0, x1, y1)
    m = m.copy()
    m[:, 2] -= (x0, y0)
    scale = float(np.hypot(m[0, 0], m[1, 0]))  # source pixels per output pixel
    pil = Image.fromarray(region)
    if scale > 1.5:
        w, h = pil.size
        new = (max(1, round(w / scale)), max(1, round(h / scale)))
        pil = pil.resize(new, Image.Resampling.BOX if scale > 3 else Image.Resampling.BILINEAR,
                         reducing_gap=None)
        rx, ry = new[0] / w, new[1] / h
        m[0] *= rx
        m[1] *= ry
    coeffs = (m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2])
    out = pil.transform((size, size), Image.Transform.AFFINE, coeffs,
                        resample=Image.Resampling.BILINEAR)
    return np.asarray(out)


def _padded_region(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` with edge pixels repeated where it leaves the image."""
    h, w = image.shape[:2]
    cx0, cy0 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
    cx1, cy1 = max(min(x1, w), cx0 + 1), max(min(y1, h), cy0 + 1)
    inner = image[cy0:cy1, cx0:cx1]
    pad = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1), (0, 0))
    if any(p < 0 for pair in pad[:2] for p in pair):  # region entirely outside the image
        pad = tuple((max(a, 0), max(b, 0)) for a, b in pad)
    if any(p for pair in pad for p in pair):
        inner = np.pad(inner, pad, mode="edge")
    return np.ascontiguousarray(inner)
