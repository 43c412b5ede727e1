"""Decoding real photos in every mode social media throws at us."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from analytics.images import ImageDecodeError, load_image
from tests.conftest import media_file


def _png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def test_rgb_jpeg_from_path_and_bytes_agree():
    path = media_file("single_face.jpg")
    a = load_image(path)
    b = load_image(path.read_bytes())
    assert a.shape == (562, 572, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_grayscale_photo_becomes_three_equal_channels():
    img = load_image(media_file("BWPictureHuman.jpg"))
    assert img.shape == (1912, 2560, 3)
    np.testing.assert_array_equal(img[..., 0], img[..., 1])
    np.testing.assert_array_equal(img[..., 0], img[..., 2])
    gray = np.asarray(Image.open(media_file("BWPictureHuman.jpg")))
    np.testing.assert_array_equal(img[..., 0], gray)


def test_rgba_is_composited_on_white():
    path = media_file("Image_with_alpha.png")
    img = load_image(path)
    rgba = np.asarray(Image.open(path).convert("RGBA")).copy()
    assert img.shape == (*rgba.shape[:2], 3)
    np.testing.assert_array_equal(img, rgba[..., :3])  # the photo is fully opaque
    rgba[:, :100, 3] = 0  # now make part of it transparent, part half-transparent
    rgba[:, 100:200, 3] = 128
    out = load_image(_png_bytes(Image.fromarray(rgba, "RGBA")))
    assert (out[:, :100] == 255).all()
    expected = rgba[:, 100:200, :3] * (128 / 255) + 255 * (1 - 128 / 255)
    assert np.abs(out[:, 100:200].astype(float) - expected).max() <= 1.0
    np.testing.assert_array_equal(out[:, 200:], rgba[:, 200:, :3])


def test_palette_cmyk_and_16_bit():
    src = Image.open(media_file("single_face.jpg")).convert("RGB")
    ref = np.asarray(src).astype(int)
    pal = load_image(_png_bytes(src.quantize(colors=64)))
    np.testing.assert_array_equal(pal, np.asarray(src.quantize(colors=64).convert("RGB")))
    buf = io.BytesIO()
    src.convert("CMYK").save(buf, format="JPEG", quality=95)
    cmyk = load_image(buf.getvalue())
    assert cmyk.shape == ref.shape
    assert np.abs(cmyk.astype(int) - ref).mean() < 12
    gray8 = np.asarray(src.convert("L"))
    deep = Image.fromarray(gray8.astype(np.uint16) * 257)  # 16-bit, full range
    assert deep.mode.startswith("I;16")
    img16 = load_image(_png_bytes(deep))
    np.testing.assert_array_equal(img16[..., 1], gray8)


def test_exif_orientation_is_applied():
    src = Image.open(media_file("single_face.jpg")).convert("RGB")
    sideways = src.transpose(Image.Transpose.ROTATE_90)  # stored rotated CCW
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate 90° clockwise
    img = load_image(_png_bytes(sideways, exif=exif))
    np.testing.assert_array_equal(img, np.asarray(src))


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    img = load_image(buf.getvalue())
    assert img.shape == (10, 20, 3)
    assert img[..., 0].min() > 200 and img[..., 2].max() < 50


def test_truncated_and_garbage_fail_with_reason():
    data = media_file("single_face.jpg").read_bytes()
    with pytest.raises(ImageDecodeError, match="truncated or corrupt"):
        load_image(data[: len(data) // 3])
    with pytest.raises(ImageDecodeError, match="not a recognized image"):
        load_image(b"this is not an image at all" * 10)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header (what a decompression bomb does)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        load_image(_png_header_only(30_000, 30_000))  # 900 megapixels claimed
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        load_image(_png_header_only(10_000, 9_500))  # 95 MP: above Pillow's warning limit


def test_missing_file_and_bomb_guard(tmp_path):
    with pytest.raises(ImageDecodeError, match="cannot open"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        load_image(media_file("single_face.jpg"), max_pixels=100_000)
    assert issubclass(ImageDecodeError, ValueError)
