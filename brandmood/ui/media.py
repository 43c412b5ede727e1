"""Pictures for the asset and review pages: face boxes drawn with labels, video frames.

Every picture is read through the workspace's media store (a folder or a bucket):
stills as bytes, videos through ``store.local_path``; thumbnails and face crops are
stored beside their source as derived pictures (:func:`db.media_store.derived_key`), so
a bucket is read once per picture, not once per page view.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from brandmood.services.charts import EMOTION_COLORS
from db.media_store import (
    MediaMissingError,
    MediaStore,
    MediaStoreError,
    derived_key,
    face_crop_prefix,
)
from db.models import AssetKind
from db.queries.faces import StoredFace
from db.queries.retention import REMOVED_BY_POLICY

THUMB_QUALITY = 85


class MediaError(RuntimeError):
    """A stored media file could not be read."""




class MediaRemovedError(MediaError):
    """The media file is no longer in the store: the retention policy removed it (the only
    way a file of a listed asset goes; an erased asset is listed nowhere)."""

    def __init__(self) -> None:
        super().__init__(f"media {REMOVED_BY_POLICY}; the faces and counts are kept")


def load_still(store: MediaStore, relpath: str) -> Image.Image:
    """A stored image as RGB with its EXIF orientation applied.

    Raises:
        MediaError: if the file is missing or not an image.
    """
    name = Path(relpath).name
    try:
        data = store.read_bytes(relpath)
    except MediaMissingError:
        raise MediaRemovedError() from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, ValueError, MediaStoreError) as exc:
        raise MediaError(f"cannot read image {name}: {exc}") from None


def video_frame(store: MediaStore, relpath: str, second: float) -> Image.Image:
    """A stored video's frame at ``second`` (RGB, upright), sampled every half second.

    Raises:
        MediaError: if the file is missing, cannot be decoded or has no frame there.
    """
    try:
        with store.local_path(relpath) as path:
            return _frame_of(path, second)
    except MediaMissingError:
        raise MediaRemovedError() from None
    except (OSError, MediaStoreError) as exc:
        raise MediaError(f"cannot read video {Path(relpath).name}: {exc}") from None


def picture(store: MediaStore, relpath: str, kind: AssetKind, second: float = 0.0
            ) -> Image.Image:
    """The still, or the video's frame at ``second``.

    Raises:
        MediaError: if it cannot be read.
    """
    if kind is AssetKind.VIDEO:
        return video_frame(store, relpath, second)
    return load_still(store, relpath)


def _frame_of(path: Path, second: float) -> Image.Image:
    """Uses :func:`analytics.video.iter_frames` (rotation applied, as the analysis saw it)
    and falls back to PyAV where that module is absent."""
    try:
        from analytics.video import VideoDecodeError, iter_frames
    except ImportError:
        return _pyav_frame(path, second)
    last = None
    try:
        for frame in iter_frames(path, every_s=0.5):
            last = frame
            if frame.timestamp_ms >= second * 1000 - 1:
                break
    except VideoDecodeError as exc:
        raise MediaError(f"cannot decode video {path.name}: {exc}") from None
    if last is None:
        raise MediaError(f"no frame at {second:.1f}s in {path.name}")
    return Image.fromarray(last.image)


def _pyav_frame(path: Path, second: float) -> Image.Image:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            target = int(second / float(stream.time_base)) if stream.time_base else 0
            container.seek(max(0, target), stream=stream, any_frame=False, backward=True)
            last = None
            for frame in container.decode(stream):
                last = frame
                if frame.time is not None and frame.time + 1e-3 >= second:
                    break
            if last is None:
                raise MediaError(f"no frame at {second:.1f}s in {path.name}")
            return last.to_image().convert("RGB")
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot decode video {path.name}: {exc}") from None


def _font(size: int) -> ImageFont.ImageFont:
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def draw_faces(image: Image.Image, faces: Sequence[StoredFace], *,
               reviews: Mapping[int, str] | None = None) -> Image.Image:
    """A copy of ``image`` with each face's box and ``#id label confidence`` written on it.

    Args:
        reviews: face id → reviewed label, shown over the model's label (None: model
            labels only).
    """
    out = image.copy()
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 300))
    font = _font(max(12, round(max(out.size) / 45)))
    for f in faces:
        review = (reviews or {}).get(f.face_id)
        label = (review or f.row.label) or "unclassified"
        color = EMOTION_COLORS.get(label, "#FFFFFF")
        x1, y1, x2, y2 = f.row.box
        draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
        conf = f" {f.row.confidence:.0%}" if f.row.confidence is not None else ""
        text = f"#{f.face_id} {label}{conf}{' (reviewed)' if review else ''}"
        tb = draw.textbbox((x1, y1), text, font=font)
        ty = max(0, y1 - (tb[3] - tb[1]) - 4)
        draw.rectangle((x1, ty, x1 + tb[2] - tb[0] + 6, ty + tb[3] - tb[1] + 4), fill=color)
        draw.text((x1 + 3, ty), text, fill="white" if label in {"sad", "contempt", "anger",
                                                                "disgust", "uncertain"}
                  else "black", font=font)
    return out


def crop_face(image: Image.Image, box: tuple[float, float, float, float], *,
              margin: float = 0.25, size: int = 160) -> Image.Image:
    """A square-ish crop around a face box with a margin, resized to ``size`` pixels high."""
    x1, y1, x2, y2 = box
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    crop = image.crop((max(0, x1 - mw), max(0, y1 - mh),
                       min(image.width, x2 + mw), min(image.height, y2 + mh)))
    if crop.height == 0 or crop.width == 0:
        return crop
    return crop.resize((max(1, round(crop.width * size / crop.height)), size))


def thumbnail(image: Image.Image, size: int = 320) -> np.ndarray:
    """``(h, w, 3)`` uint8 thumbnail no larger than ``size`` on its long side."""
    im = image.copy()
    im.thumbnail((size, size))
    return np.asarray(im)


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=THUMB_QUALITY)
    return buf.getvalue()


def derived_picture(store: MediaStore, relpath: str, name: str,
                    make: Callable[[], Image.Image]) -> Image.Image:
    """A picture derived from a stored file: read if stored, else made and stored once.

    Raises:
        MediaError: if it is not stored and cannot be made.
    """
    try:
        key = derived_key(relpath, name)
    except MediaStoreError:  # not a content address: nothing to keep it beside
        return make()
    try:
        data = store.get_derived(key)
    except (OSError, MediaStoreError):
        data = None
    if data is not None:
        with Image.open(io.BytesIO(data)) as im:
            return im.convert("RGB")
    image = make()
    with suppress(OSError, MediaStoreError):  # a read-only store: shown, just not kept
        store.put_derived(key, _jpeg(image))
    return image


def stored_thumbnail(store: MediaStore, relpath: str, kind: AssetKind,
                     size: int = 320) -> np.ndarray:
    """``(h, w, 3)`` uint8 thumbnail of a stored asset (first frame of a video).

    Raises:
        MediaError: if the asset's file cannot be read.
    """
    img = derived_picture(store, relpath, f"thumb-{size}.jpg",
                          lambda: Image.fromarray(thumbnail(picture(store, relpath, kind),
                                                            size)))
    return np.asarray(img)


def stored_face_crop(store: MediaStore, relpath: str, kind: AssetKind, *, second: float,
                     box: tuple[float, float, float, float], size: int = 160) -> Image.Image:
    """A face crop (:func:`crop_face`) of a stored asset, kept beside it once made.

    Raises:
        MediaError: if the asset's file cannot be read.
    """
    name = f"{face_crop_prefix(round(second * 1000), box)}{size}.jpg"
    return derived_picture(store, relpath, name, lambda: crop_face(
        picture(store, relpath, kind, second), box, size=size))
