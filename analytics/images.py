"""Decode still images into ``(H, W, 3)`` uint8 RGB arrays, upright and safe.

Social-media photos come in every form: phone JPEGs stored sideways with an EXIF
orientation tag, grayscale scans, palette GIFs, transparent PNGs, CMYK print files,
16-bit TIFFs, animated GIF/WebP. :func:`load_image` turns all of them into one array
layout, and everything it cannot decode into :class:`ImageDecodeError` with a reason.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
"""Refuse images above this many pixels (decompression-bomb guard; Pillow's limit, ~89 MP).

Pillow's own warning for images above ``Image.MAX_IMAGE_PIXELS`` is turned into an error
too, so a smaller ``max_pixels`` narrows the guard and the global setting caps it.
"""


class ImageDecodeError(ValueError):
    """An image could not be decoded; the message says why."""


def load_image(src: Path | str | bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file or bytes into upright RGB.

    EXIF orientation is applied, transparency is composited on white, and animated
    images give their first frame.

    Args:
        src: a file path or the encoded bytes.
        max_pixels: largest accepted width × height.

    Returns:
        ``(H, W, 3)`` uint8 RGB array.

    Raises:
        ImageDecodeError: for missing, truncated, corrupt, unsupported or oversized images.
    """
    name = "<bytes>" if isinstance(src, bytes | bytearray) else str(src)
    try:
        fh = io.BytesIO(src) if isinstance(src, bytes | bytearray) else open(src, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ImageDecodeError(f"cannot open {name}: {exc.strerror or exc}") from None
    with fh, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(fh) as im:
                _check_size(im, max_pixels)
                im.seek(0)  # animated GIF/WebP: the first frame
                im.load()
                upright = ImageOps.exif_transpose(im)
                return to_rgb_array(upright if upright is not None else im)
        except ImageDecodeError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageDecodeError(f"image too large (decompression bomb guard): {exc}") from None
        except UnidentifiedImageError:
            raise ImageDecodeError(f"not a recognized image format: {name}") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
            raise ImageDecodeError(f"truncated or corrupt image: {exc}") from None


def _check_size(im: Image.Image, max_pixels: int) -> None:
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageDecodeError(f"image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise ImageDecodeError(f"image too large: {w}x{h} = {w * h} pixels exceeds the "
                               f"limit of {max_pixels} (decompression bomb guard)")


def to_rgb_array(im: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to an ``(H, W, 3)`` uint8 RGB array.

    Transparent images are composited on white; 16-bit and 32-bit integer images are
    scaled to 8 bits by their dynamic range; float images are clipped to ``[0, 1]``.
    """
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8).copy()
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_depth_to_rgb(np.asarray(im), mode)
    if mode == "1":
        im = im.convert("L")
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _high_depth_to_rgb(arr: np.ndarray, mode: str) -> np.ndarray:
    a = arr.astype(np.float64)
    if mode == "F":
        a = np.clip(a, 0.0, 1.0) * 255.0
    else:
        peak = float(a.max(initial=0.0))
        if mode.startswith("I;16"):
            top = 65535.0
        else:
            top = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak
        a = np.clip(a, 0.0, None) / top * 255.0
    gray = np.rint(a).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)
