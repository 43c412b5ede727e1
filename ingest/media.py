"""Media checks: type from the bytes, image/video probing, perceptual hash.

Everything here reads a file and either returns :class:`MediaInfo` or raises
:class:`MediaError` with a reason a marketer can act on ("truncated image", "an HTML
page, not an image", "video has no frames"…).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from analytics.video import stream_timing
from db.models import AssetKind

MAX_IMAGE_PIXELS = 100_000_000
"""Decompression-bomb limit: images with more pixels are refused before decoding."""

Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False

_VIDEO_BRANDS = (b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"qt  ",
                 b"M4V ", b"M4A ", b"avc1", b"3gp4", b"3gp5", b"3g2a", b"dash", b"MSNV",
                 b"f4v ", b"mmp4")
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")
_HEAD = 64


class MediaError(ValueError):
    """A file is not usable media; the message is the reason."""


@dataclass(frozen=True)
class MediaInfo:
    """What probing found.

    Attributes:
        kind: image or video.
        suffix: file suffix from the detected type (``.jpg``, ``.mp4``…).
        width, height: pixels as stored (before EXIF orientation / rotation).
        orientation: EXIF orientation tag (1-8) of images, or None.
        rotation: display rotation of videos in degrees, or None.
        duration_s, fps: of videos.
        frames: frames of an animated image (1 for stills).
        phash: 64-bit difference hash of the (first) frame as 16 hex digits.
    """

    kind: AssetKind
    suffix: str
    width: int
    height: int
    phash: str
    orientation: int | None = None
    rotation: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    frames: int = 1


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, suffix) from a file's first bytes, or None if unknown.

    kind is ``"image"``, ``"video"``, ``"heif"``, ``"html"``, ``"zip"`` or ``"text"``.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image", ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", ".png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", ".gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", ".webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", ".avi"
    if head[:2] == b"BM":
        return "image", ".bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", ".tif"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "heif", ".heic" if brand != b"avif" else ".avif"
        if brand in _VIDEO_BRANDS or brand.startswith(b"3g"):
            return "video", ".mov" if brand == b"qt  " else ".mp4"
        return "video", ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", ".webm" if b"webm" in head else ".mkv"
    if head.startswith(b"PK\x03\x04"):
        return "zip", ".zip"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "html", ".html"
    if text.startswith((b"<?xml", b"<rss", b"<feed", b"{", b"[", b"<")):
        return "text", ".txt"
    return None


def sniff_kind(head: bytes) -> str | None:
    """Just the kind of :func:`sniff` (``"image"``, ``"video"``…) or None."""
    found = sniff(head)
    return found[0] if found else None


def dhash(image: Image.Image) -> str:
    """64-bit difference hash: 9x8 grayscale, one bit per horizontal gradient sign.

    Returns:
        16 hex digits; near-identical pictures differ in few bits.
    """
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.LANCZOS),
                       dtype=np.int16)  # (8, 9)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def probe(path: Path) -> MediaInfo:
    """Detect and check one media file.

    Raises:
        MediaError: empty, unknown type, HTML, corrupt/truncated, too many pixels,
            HEIC without pillow-heif, a video without a video stream or frames.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        raise MediaError("empty file (0 bytes)")
    found = sniff(head)
    if found is None:
        raise MediaError("not an image or video (unknown file type)")
    kind, suffix = found
    if kind == "html":
        raise MediaError("an HTML page, not an image or video")
    if kind in ("zip", "text"):
        raise MediaError(f"a {kind} file, not an image or video")
    if kind == "heif":
        _register_heif()
        return _probe_image(path, suffix)
    if kind == "image":
        return _probe_image(path, suffix)
    return _probe_video(path, suffix)


def _register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        raise MediaError("HEIC/AVIF image needs the pillow-heif package") from None
    register_heif_opener()


def _probe_image(path: Path, suffix: str) -> MediaInfo:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise MediaError(f"image too large: {width}x{height} pixels is over the "
                                     f"{MAX_IMAGE_PIXELS:,} pixel limit")
                frames = int(getattr(img, "n_frames", 1) or 1)
                img.seek(0)
                img.load()  # decodes the first frame: finds truncation and corruption
                orientation = img.getexif().get(0x0112)
                phash = dhash(img)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(f"image too large (decompression bomb limit): {exc}") from None
    except UnidentifiedImageError:
        raise MediaError("corrupt image: Pillow cannot identify it") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc)
        if "truncated" in text.lower() or isinstance(exc, EOFError):
            raise MediaError(f"truncated image: {text or 'ends early'}") from None
        raise MediaError(f"corrupt image: {text or type(exc).__name__}") from None
    return MediaInfo(AssetKind.IMAGE, suffix, width, height, phash,
                     orientation=int(orientation) if orientation else None, frames=frames)


def _rotation(stream, frame) -> int | None:
    rot = getattr(frame, "rotation", None)
    if rot:
        return int(rot) % 360
    tag = (stream.metadata or {}).get("rotate")
    if tag and str(tag).lstrip("-").isdigit():
        return int(tag) % 360
    return 0


def _probe_video(path: Path, suffix: str) -> MediaInfo:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError("no video stream in the file")
            stream = container.streams.video[0]
            first = next(container.decode(stream), None)
            if first is None:
                raise MediaError("video has no frames")
            duration, fps = stream_timing(container, stream)
            phash = dhash(first.to_image())
            rotation = _rotation(stream, first)
            width, height = first.width, first.height
    except MediaError:
        raise
    except av.error.EOFError:
        raise MediaError("video has no frames") from None
    except (av.FFmpegError, OSError, ValueError, StopIteration) as exc:
        raise MediaError(f"corrupt video: {exc}") from None
    return MediaInfo(AssetKind.VIDEO, suffix, width, height, phash, rotation=rotation,
                     duration_s=duration, fps=fps)
