"""Real photos of known people that other packages ship, pinned like the model weights.

Used by the identity benchmark and tests only (never by the app, never committed): fetched
from PyPI by :func:`brandmood.core.fetch.ensure_package` into the cache, sha256-checked, and
single files extracted into ``$BRANDMOOD_CACHE/extracted/``.
"""

from __future__ import annotations

from pathlib import Path

from brandmood.core.fetch import Sdist, package_member

FACE_RECOGNITION_SDIST = Sdist(
    "face-recognition", "1.3.0", "face_recognition-1.3.0.tar.gz",
    "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec")
"""Adam Geitgey's ``face_recognition`` (MIT). Its source archive (not its wheel) ships
``tests/test_images/``: three official White House photos of Barack Obama taken on different
days (``obama.jpg``, ``obama2.jpg``, ``obama3.jpg``) and one of Joe Biden (``biden.jpg``);
official photos of the US government are in the public domain. The package's own tests
assert that the Obama photos match each other."""

FACE_RECOGNITION_IMAGES = "tests/test_images/"
FACE_RECOGNITION_FILES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
"""The distinct photos used; ``32bit.png`` repeats ``obama2`` and ``obama_partial_face*.jpg``
are cut-outs of ``obama.jpg``."""


def face_recognition_image(name: str, *, cache: Path | None = None) -> Path:
    """One of :data:`FACE_RECOGNITION_FILES` from the pinned sdist (fetched and extracted once).

    Raises:
        ValueError: for another name.
        brandmood.core.fetch.AssetError: the archive cannot be fetched or fails its sha256.
    """
    if name not in FACE_RECOGNITION_FILES:
        raise ValueError(f"unknown face_recognition test image {name!r} "
                         f"(choose from {', '.join(FACE_RECOGNITION_FILES)})")
    return package_member(FACE_RECOGNITION_SDIST, FACE_RECOGNITION_IMAGES + name, cache=cache)
