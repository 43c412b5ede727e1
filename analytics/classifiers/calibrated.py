"""A classifier whose probabilities go through a fitted calibration map.

:func:`analytics.classifiers.registry.get_classifier` wraps every registered model that has
shipped calibration parameters (:mod:`analytics.calibration_data`) in
:class:`CalibratedClassifier`; ``get_classifier(name, calibrated=False)`` gives the raw model
(what the calibration is fitted on). The top class never changes under a temperature map.
"""

from __future__ import annotations

import hashlib

import numpy as np

from analytics.calibration import Calibration
from analytics.classifiers.base import EmotionClassifier
from brandmood.core.types import ModelInfo


class CalibratedClassifier:
    """``inner``'s probabilities mapped by ``calibration``.

    Attributes:
        inner: the raw classifier.
        calibration: the map.
        info: the inner model's name; its version with the map's tag appended
            (``1.7.15+T1.42``), so runs with another calibration get another signature; the
            weights digest also covers the map's parameters.
        input_spec: the inner model's.
    """

    def __init__(self, inner: EmotionClassifier, calibration: Calibration) -> None:
        self.inner = inner
        self.calibration = calibration
        self.input_spec = inner.input_spec
        i = inner.info
        digest = hashlib.sha256(f"{i.weights_sha256}:{calibration.to_dict()!r}".encode())
        self.info = ModelInfo(i.name, f"{i.version}+{calibration.tag}", digest.hexdigest())

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 RGB → ``(n, 8)`` calibrated probabilities (NaN as inner)."""
        return self.calibration.apply(self.inner.predict(crops))


__all__ = ["CalibratedClassifier"]
