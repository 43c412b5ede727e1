"""Media checks on real photos and videos and on every kind of bad file."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from db.models import AssetKind
from ingest.media import MediaError, hamming, probe, sniff


def png_header(width: int, height: int) -> bytes:
    """A PNG signature + IHDR (+ an empty IDAT and IEND): the header only, no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def test_real_photos_and_videos(media) -> None:
    info = probe(media.path("multi_face.jpg"))
    assert (info.kind, info.suffix, info.width, info.height) == (AssetKind.IMAGE, ".jpg", 1000, 667)
    assert len(info.phash) == 16
    video = probe(media.path("single_face.mp4"))
    assert video.kind is AssetKind.VIDEO and video.suffix == ".mp4"
    assert (video.width, video.height) == (640, 360)
    assert video.duration_s == pytest.approx(2.4, abs=0.1)
    assert video.fps == pytest.approx(30.0, abs=0.5)
    assert video.rotation == 0


def test_type_comes_from_bytes_not_name(media, tmp_path: Path) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(media.path("single_face.jpg").read_bytes())
    assert probe(fake).kind is AssetKind.IMAGE and probe(fake).suffix == ".jpg"


def test_truncated_jpeg_is_rejected(media, tmp_path: Path) -> None:
    data = media.path("single_face.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="truncated"):
        probe(cut)


def test_zero_byte_file_is_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty file"):
        probe(empty)


def test_html_page_named_jpeg_is_rejected(tmp_path: Path) -> None:
    page = tmp_path / "photo.jpg"
    page.write_bytes(b"\n<!DOCTYPE html><html><body>Login required</body></html>")
    with pytest.raises(MediaError, match="HTML page"):
        probe(page)


def test_unknown_bytes_are_rejected(tmp_path: Path) -> None:
    junk = tmp_path / "x.jpg"
    junk.write_bytes(bytes(range(7, 200)))
    with pytest.raises(MediaError, match="unknown file type"):
        probe(junk)


def test_pixel_bomb_header_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(50_000, 50_000))
    assert bomb.stat().st_size < 100
    with pytest.raises(MediaError, match="too large"):
        probe(bomb)


def test_corrupt_png_body_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(png_header(64, 64))  # a valid header with no pixel data
    with pytest.raises(MediaError, match=r"truncated|corrupt"):
        probe(bad)


def test_exif_orientation_is_recorded(media, tmp_path: Path) -> None:
    img = Image.open(media.path("single_face.jpg"))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = tmp_path / "rotated.jpg"
    img.save(out, exif=exif)
    assert probe(out).orientation == 6


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 30), c) for c in ("red", "green", "blue")]
    out = tmp_path / "anim.gif"
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=100, loop=0)
    info = probe(out)
    assert (info.kind, info.suffix, info.frames, info.width, info.height) == \
        (AssetKind.IMAGE, ".gif", 3, 40, 30)


def test_heic_without_pillow_heif_fails_with_reason(tmp_path: Path) -> None:
    try:
        import pillow_heif  # noqa: F401
        pytest.skip("pillow-heif is installed: HEIC decodes")
    except ImportError:
        pass
    heic = tmp_path / "x.heic"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    with pytest.raises(MediaError, match="pillow-heif"):
        probe(heic)


def _video(path: Path, n_frames: int) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        c.start_encoding()
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8),
                                               format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def test_video_with_no_frames_fails(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no frames"):
        probe(_video(tmp_path / "empty.avi", 0))
    assert probe(_video(tmp_path / "three.avi", 3)).kind is AssetKind.VIDEO


def test_file_without_video_stream_fails(tmp_path: Path) -> None:
    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 16000
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)
    with pytest.raises(MediaError, match="no video stream"):
        probe(path)


def test_perceptual_hash_finds_near_duplicates(media, tmp_path: Path) -> None:
    src = media.path("single_face.jpg")
    smaller = tmp_path / "small.jpg"
    with Image.open(src) as img:
        img.resize((img.width // 2, img.height // 2)).save(smaller, quality=60)
    a, b = probe(src).phash, probe(smaller).phash
    c = probe(media.path("free-mountain-vector-01.jpg")).phash
    assert hamming(a, b) <= 6
    assert hamming(a, c) > 12


def test_sniff_known_signatures() -> None:
    assert sniff(b"\xff\xd8\xff\xe0") == ("image", ".jpg")
    assert sniff(b"GIF89a....") == ("image", ".gif")
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ("image", ".webp")
    assert sniff(b"\x00\x00\x00\x20ftypisom") == ("video", ".mp4")
    assert sniff(b"PK\x03\x04") == ("zip", ".zip")
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, "PNG")
    assert sniff(buf.getvalue()[:16]) == ("image", ".png")
