"""The two labeled dev sets as arrays, with people as groups, and per-model outputs cached.

* ``jaffe``: ``../shared/eval/jaffe-dev`` (108 photos of 5 people); the person is the file
  name's prefix (``KA.AN1.39.tiff`` → ``KA``). Photos: MTCNN finds the faces once (cached),
  the largest is classified, cut by :func:`analytics.align.crop_faces` for each input spec.
* ``ckplus``: ``../shared/eval/ckplus48-dev`` (165 crops of 59 subjects); the subject is the
  file name's prefix (``S138_008_00000009.png`` → ``S138``). Each crop is one face, resized.

Cross-validation loops over models, margins, ensemble weights and calibrations would rerun
the networks hundreds of times; instead every model's *raw* (uncalibrated) probabilities on a
set, per crop margin, are computed once and kept in ``$BRANDMOOD_CACHE/devcache/`` (keyed by
the set's files, the model, the margin and a digest of the code that cuts and classifies).
Features for adapted heads are cached the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from analytics.finetune import group_of
from benchmarks.peer_common import EVAL, ROOT, BenchmarkError, list_labeled
from brandmood.core.fetch import cache_dir
from brandmood.core.types import EMOTIONS, N_EMOTIONS, FaceDetections

SETS = {"jaffe": ("jaffe-dev", False), "ckplus": ("ckplus48-dev", True)}
"""Set name → (folder under the eval root, whether its images are face crops)."""
CODE = ("analytics/align.py", "analytics/detection.py", "analytics/images.py",
        "analytics/hog_baseline.py", "analytics/classifiers/base.py",
        "analytics/classifiers/ensemble.py", "analytics/classifiers/faceapi.py",
        "analytics/classifiers/facex.py", "analytics/classifiers/fer_mini_xception.py",
        "analytics/classifiers/tflite_graph.py", "analytics/classifiers/manifest.py")
"""The files whose change invalidates cached outputs."""


@dataclass(frozen=True)
class DevSet:
    """One labeled dev set.

    Attributes:
        name: ``jaffe`` or ``ckplus``.
        paths: ``(n,)`` image files, sorted by label folder then name.
        labels: ``(n,)`` int64 index into :data:`EMOTIONS`.
        groups: ``(n,)`` str person of each image.
        crops_mode: the images are face crops (used whole).
        images: ``n`` decoded ``(H, W, 3)`` uint8 RGB images.
        faces: ``n`` one-face :class:`FaceDetections` (the largest face) or None (photos only).
        digest: sha256 over the files' names and bytes (cache key).
    """

    name: str
    paths: list[Path]
    labels: np.ndarray
    groups: np.ndarray
    crops_mode: bool
    images: list[np.ndarray]
    faces: list[FaceDetections | None]
    digest: str

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def has_face(self) -> np.ndarray:
        """``(n,)`` bool: a face was found (always, for crops)."""
        return np.array([self.crops_mode or f is not None for f in self.faces], bool)

    def cut(self, size: int, margin: float) -> np.ndarray:
        """``(m, size, size, 3)`` uint8 crops of the images that have a face (:attr:`has_face`)."""
        from analytics.align import crop_faces
        from analytics.classifiers.base import InputSpec
        from analytics.classifiers.manifest import resize_crops

        if self.crops_mode:
            return np.stack([resize_crops(_square(im)[None], size)[0] for im in self.images])
        spec = InputSpec(size=size, margin=margin)
        out = [crop_faces(im, f, spec)[0] for im, f in zip(self.images, self.faces, strict=True)
               if f is not None]
        return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def _square(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return image[y:y + s, x:x + s]


def devcache() -> Path:
    path = cache_dir() / "devcache"
    path.mkdir(parents=True, exist_ok=True)
    return path


@cache
def code_digest() -> str:
    h = hashlib.sha256()
    for rel in CODE:
        h.update(rel.encode())
        h.update((ROOT / rel).read_bytes())
    return h.hexdigest()[:16]


@cache
def load_devset(name: str, eval_dir: Path = EVAL) -> DevSet:
    """Read one dev set (faces detected once and cached for the photos).

    Raises:
        BenchmarkError: the folder is absent or holds no labeled images.
    """
    from analytics.images import load_image

    folder, crops_mode = SETS[name]
    root = Path(eval_dir) / folder
    if not root.is_dir():
        raise BenchmarkError(f"dev set {name}: {root} not found")
    items = list_labeled(root, skip_unknown=True)
    if not items:
        raise BenchmarkError(f"dev set {name}: no labeled images under {root}")
    h = hashlib.sha256()
    for it in items:
        h.update(f"{it.label.value}/{it.path.name}".encode())
        h.update(it.path.read_bytes())
    digest = h.hexdigest()[:16]
    images = [load_image(it.path) for it in items]
    faces = [None] * len(items) if crops_mode else _detect(images, name, digest)
    return DevSet(name, [it.path for it in items],
                  np.array([EMOTIONS.index(it.label) for it in items], np.int64),
                  np.array([group_of(it.path) for it in items], dtype=object),
                  crops_mode, images, faces, digest)


def _detect(images: list[np.ndarray], name: str, digest: str) -> list[FaceDetections | None]:
    """The largest MTCNN face of each image (boxes and landmarks cached on disk)."""
    path = devcache() / f"faces-{name}-{digest}-{code_digest()}.npz"
    if path.is_file():
        z = np.load(path)
        return [FaceDetections.create(z["boxes"][i:i + 1], z["scores"][i:i + 1],
                                      z["landmarks"][i:i + 1]) if z["found"][i] else None
                for i in range(len(images))]
    from analytics.detection import MTCNNDetector

    found = MTCNNDetector().detect(images)
    chosen = [d[int(np.argmax(d.areas))] if len(d) else None for d in found]
    n = len(images)
    boxes, scores = np.zeros((n, 4), np.float32), np.zeros(n, np.float32)
    landmarks = np.full((n, 5, 2), np.nan, np.float32)
    for i, d in enumerate(chosen):
        if d is not None:
            boxes[i], scores[i], landmarks[i] = d.boxes[0], d.scores[0], d.landmarks[0]
    np.savez(path, boxes=boxes, scores=scores, landmarks=landmarks,
             found=np.array([d is not None for d in chosen]))
    return _detect(images, name, digest)


def cached_array(key: dict, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` once per ``key`` (a JSON-able dict), kept in the dev cache."""
    text = json.dumps(key, sort_keys=True)
    path = devcache() / f"out-{hashlib.sha256(text.encode()).hexdigest()[:24]}.npy"
    if path.is_file():
        return np.load(path)
    arr = np.asarray(compute())
    np.save(path, arr)
    return arr


_MODELS: dict[str, object] = {}


def raw_classifier(name: str):
    """A registered model without its shipped calibration, loaded once per process."""
    from analytics.classifiers.registry import get_classifier

    if name not in _MODELS:
        _MODELS[name] = get_classifier(name, calibrated=False)
    return _MODELS[name]


def model_probs(ds: DevSet, model: str, margin: float | None = None) -> np.ndarray:
    """``(n, 8)`` raw probabilities of a registered model on every image (NaN rows where no
    face), its crops cut with ``margin`` (default: the model's own)."""
    def compute() -> np.ndarray:
        clf = raw_classifier(model)
        m = clf.input_spec.margin if margin is None else margin
        out = np.full((len(ds), N_EMOTIONS), np.nan, np.float32)
        has = ds.has_face
        if has.any():
            out[has] = clf.predict(ds.cut(clf.input_spec.size, m))
        return out

    return cached_array({"kind": "probs", "set": ds.name, "data": ds.digest, "model": model,
                         "margin": margin, "code": code_digest()}, compute)


def cached_features(ds: DevSet, block: str, size: int, margin: float, *, mirror: bool,
                    compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``(m, d)`` features of one block on the crops of the faces found (mirrored where
    ``mirror``), computed once: ``compute(crops (m, size, size, 3) uint8)``."""
    def run() -> np.ndarray:
        crops = ds.cut(size, margin)
        return compute(np.ascontiguousarray(crops[:, :, ::-1]) if mirror else crops)

    return cached_array({"kind": "features", "set": ds.name, "data": ds.digest,
                         "block": block, "size": size, "margin": margin, "mirror": mirror,
                         "code": code_digest()}, run)


__all__ = ["SETS", "DevSet", "cached_array", "cached_features", "load_devset", "model_probs",
           "raw_classifier"]
