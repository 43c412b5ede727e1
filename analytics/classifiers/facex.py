"""facex 1.1.0's emotion model (MIT): a MobileNetV2 TFLite network, 200×200, seven classes.

The model ships in the pinned ``facex`` wheel as ``facex/assets/model_optimized.tflite``
(:data:`brandmood.assets.FACEX_WHEEL`) and runs with ``ai-edge-litert`` (no TensorFlow).

Preprocessing is facex's own (``facex/core.py``, ``facex/utils.py``):

* gray as ``cv2.cvtColor(..., COLOR_BGR2GRAY)`` computes it for uint8: fixed point
  ``(9798 R + 19235 G + 3735 B + 2**14) >> 15``;
* ``skimage.transform.resize(gray, (200, 200, 3))``: the crop arrives at 200×200 already
  (``input_spec.size``), so this is ``gray / 255`` copied into three channels;
* facex cuts the detector's box with no margin, hence ``margin=0``.

Its outputs are softmax probabilities in the order anger, disgust, fear, happy, neutral,
sadness, surprised; they are mapped into :data:`analytics.types.EMOTIONS`, contempt NaN.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from analytics.classifiers.base import ColorMode, InputSpec
from analytics.types import Emotion, ModelInfo

NAME = "facex"
VERSION = "1.1.0"
FACEX_MEMBER = "facex/assets/model_optimized.tflite"
FACEX_LABELS: tuple[Emotion, ...] = (Emotion.ANGER, Emotion.DISGUST, Emotion.FEAR, Emotion.HAPPY,
                                     Emotion.NEUTRAL, Emotion.SAD, Emotion.SURPRISE)
"""Order of the model's seven outputs (``facex.core.EmotionClassifier.category``)."""

SIZE = 200
_CV_GRAY = np.array([9798, 19235, 3735], np.int32)
"""OpenCV's uint8 RGB → gray coefficients (shift 15)."""


class LitertMissingError(ImportError):
    """``ai-edge-litert`` (the TFLite runtime) is not installed."""


def litert_interpreter(model_path: Path, *, num_threads: int | None = None):
    """A fresh ``ai_edge_litert`` interpreter for ``model_path`` (tensors not yet allocated).

    Args:
        model_path: the ``.tflite`` file.
        num_threads: CPU threads for the interpreter (None: the runtime's default).

    Raises:
        LitertMissingError: where ``ai-edge-litert`` is not installed.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise LitertMissingError("the facex model needs the TFLite runtime: "
                                 "pip install ai-edge-litert") from None
    return Interpreter(model_path=str(model_path), num_threads=num_threads)


def facex_weights_path() -> Path:
    """The TFLite file from the pinned ``facex`` wheel (fetched from PyPI into the cache).

    Raises:
        brandmood.assets.AssetError: the wheel is missing and cannot be fetched.
    """
    from brandmood.assets import FACEX_WHEEL, package_member

    return package_member(FACEX_WHEEL, FACEX_MEMBER)


def cv_gray(crops: np.ndarray) -> np.ndarray:
    """``(n, S, S, 3)`` uint8 RGB → ``(n, S, S)`` uint8 gray, bit-exact with OpenCV."""
    arr = np.asarray(crops)
    if arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"crops must be (n, S, S, 3) uint8 RGB, got {arr.shape} {arr.dtype}")
    return ((arr.astype(np.int32) @ _CV_GRAY + (1 << 14)) >> 15).astype(np.uint8)


def to_facex_input(crops: np.ndarray) -> np.ndarray:
    """``(n, 200, 200, 3)`` uint8 RGB → ``(n, 200, 200, 3)`` float32 gray in [0, 1]."""
    gray = cv_gray(crops).astype(np.float32) / np.float32(255.0)
    return np.repeat(gray[..., None], 3, axis=3)


class FacexClassifier:
    """facex's TFLite model behind :class:`~analytics.classifiers.base.EmotionClassifier`.

    One interpreter per instance, loaded once; ``predict`` holds a lock, so one instance
    may be shared by threads. Crops run ``batch_size`` per call (the input tensor is resized
    to the batch). The default, 4, measured about 15% less CPU per face than 32 (probably
    the 200×200 activations of a large batch spilling out of the CPU caches), as little as 1.
    """

    input_spec = InputSpec(size=SIZE, margin=0.0, color=ColorMode.GRAY)

    def __init__(self, *, batch_size: int = 4) -> None:
        """Load the model.

        Raises:
            LitertMissingError: ``ai-edge-litert`` is not installed.
            brandmood.assets.AssetError: the ``facex`` wheel is missing and cannot be fetched.
            ValueError: a batch size under 1.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        from analytics.detection import configure_torch_threads

        path = facex_weights_path()
        # the same thread budget as torch (BRANDMOOD_THREADS, default cores - 1), so the
        # runtime's own thread pool does not compete with torch's on a small machine
        self._interp = litert_interpreter(path, num_threads=configure_torch_threads())
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]
        self._batch = 0
        self._lock = threading.Lock()
        self.batch_size = batch_size
        self.info = ModelInfo(NAME, VERSION, _sha256(path))

    def _run(self, x: np.ndarray) -> np.ndarray:
        if len(x) != self._batch:
            self._interp.resize_tensor_input(self._in, [len(x), SIZE, SIZE, 3])
            self._interp.allocate_tensors()
            self._batch = len(x)
        self._interp.set_tensor(self._in, np.ascontiguousarray(x, np.float32))
        self._interp.invoke()
        return np.array(self._interp.get_tensor(self._out), np.float32)

    def scores(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 200, 200, 3)`` uint8 RGB → ``(n, 7)`` softmax in :data:`FACEX_LABELS` order."""
        x = to_facex_input(crops)
        if x.shape[1:3] != (SIZE, SIZE):
            raise ValueError(f"crops must be {SIZE}×{SIZE}, got {x.shape[1]}×{x.shape[2]}")
        outs = []
        with self._lock:
            for start in range(0, len(x), self.batch_size):
                outs.append(self._run(x[start:start + self.batch_size]))
        return np.concatenate(outs) if outs else np.zeros((0, len(FACEX_LABELS)), np.float32)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 200, 200, 3)`` uint8 RGB → ``(n, 8)`` probabilities (contempt NaN)."""
        from analytics.classifiers.fer_mini_xception import fer7_to_emotions

        return fer7_to_emotions(self.scores(crops), FACEX_LABELS)


@lru_cache(maxsize=2)
def _sha256(path: Path) -> str:
    from brandmood.assets import sha256_file

    return sha256_file(path)
