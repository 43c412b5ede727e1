"""facex 1.1.0's emotion model (MIT): a MobileNetV2 TFLite network, 200×200, seven classes.

The model ships in the pinned ``facex`` wheel as ``facex/assets/model_optimized.tflite``
(:data:`brandmood.core.fetch.FACEX_WHEEL`; the registry fetches it and hands the file's path
to :class:`FacexClassifier`) and runs with ``ai-edge-litert`` (no TensorFlow), an optional
package imported only when an interpreter is made.
The file is a dynamic-range model: 8-bit weights whose hybrid kernels also quantize every
activation on the fly. Two precisions (:class:`Precision`):

* ``float32`` (registered as ``facex``, the default): the same weights dequantized once
  (:func:`analytics.classifiers.tflite_graph.float_model`), the whole network in float32 in
  one XNNPACK partition: about 2.5× less CPU per face, and free of the activation rounding
  that moves the shipped model's answers by up to 0.11 between TFLite's own kernels.
  ``benchmarks/port_check_facex.py`` checks it against an independent PyTorch run of the
  same graph and against the shipped model (numbers in docs/models.md);
* ``int8`` (registered as ``facex-int8``): the shipped file as it is.

Preprocessing is facex's own (``facex/core.py``, ``facex/utils.py``):

* gray as ``cv2.cvtColor(..., COLOR_BGR2GRAY)`` computes it for uint8: fixed point
  ``(9798 R + 19235 G + 3735 B + 2**14) >> 15``;
* ``skimage.transform.resize(gray, (200, 200, 3))``: the crop arrives at 200×200 already
  (``input_spec.size``), so this is ``gray / 255`` copied into three channels;
* facex cuts the detector's box with no margin, hence ``margin=0``.

Its outputs are softmax probabilities in the order anger, disgust, fear, happy, neutral,
sadness, surprised; they are mapped into :data:`brandmood.core.types.EMOTIONS`, contempt NaN.
"""

from __future__ import annotations

import enum
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from analytics.classifiers.base import ColorMode, InputSpec, to_emotion_order
from analytics.classifiers.tflite_graph import TFLiteGraphError, float_model, read_graph
from analytics.detection import configure_torch_threads
from brandmood.core.fetch import sha256_file
from brandmood.core.types import Emotion, ModelInfo

NAME = "facex"
INT8_NAME = "facex-int8"
VERSION = "1.1.0"
FACEX_LABELS: tuple[Emotion, ...] = (Emotion.ANGER, Emotion.DISGUST, Emotion.FEAR, Emotion.HAPPY,
                                     Emotion.NEUTRAL, Emotion.SAD, Emotion.SURPRISE)
"""Order of the model's seven outputs (``facex.core.EmotionClassifier.category``)."""

SIZE = 200
FEATURE_DIM = 1280
"""Width of :meth:`FacexClassifier.features`."""
_CV_GRAY = np.array([9798, 19235, 3735], np.int32)
"""OpenCV's uint8 RGB → gray coefficients (shift 15)."""


class Precision(enum.StrEnum):
    """How the facex network runs (see the module docstring)."""

    FLOAT32 = "float32"
    INT8 = "int8"


BATCH_SIZES = {Precision.FLOAT32: 8, Precision.INT8: 4}
"""Crops per interpreter call, by measured CPU per face (``benchmarks/port_check_facex.py``):
int8 4 used about 15% less than 32; for float32, 1, 2, 8 and 16 were within noise of each
other (medians 6.0–6.3 ms per face over four interleaved rounds), so 8 bounds memory."""


class LitertMissingError(ImportError):
    """``ai-edge-litert`` (the TFLite runtime) is not installed."""


def litert_interpreter_class() -> type:
    """``ai_edge_litert``'s ``Interpreter`` (the optional package is imported here).

    Raises:
        LitertMissingError: where ``ai-edge-litert`` is not installed.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise LitertMissingError("the facex model needs the TFLite runtime: "
                                 "pip install ai-edge-litert") from None
    return Interpreter


def litert_interpreter(model: Path | bytes, *, num_threads: int | None = None):
    """A fresh ``ai_edge_litert`` interpreter (tensors not yet allocated).

    Args:
        model: the ``.tflite`` file, or a model's bytes.
        num_threads: CPU threads for the interpreter (None: the runtime's default).

    Raises:
        LitertMissingError: where ``ai-edge-litert`` is not installed.
    """
    Interpreter = litert_interpreter_class()
    if isinstance(model, bytes):
        return Interpreter(model_content=model, num_threads=num_threads)
    return Interpreter(model_path=str(model), num_threads=num_threads)


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
    to the batch); :data:`BATCH_SIZES` holds the measured best per precision.
    """

    input_spec = InputSpec(size=SIZE, margin=0.0, color=ColorMode.GRAY)

    def __init__(self, weights: Path, *, precision: Precision = Precision.FLOAT32,
                 batch_size: int | None = None) -> None:
        """Load the model.

        Args:
            weights: the ``facex`` wheel's ``model_optimized.tflite`` (its sha256 is
                recorded).
            precision: float32 (the weights dequantized) or int8 (the shipped file).
            batch_size: crops per interpreter call (None: :data:`BATCH_SIZES`).

        Raises:
            LitertMissingError: ``ai-edge-litert`` is not installed.
            ValueError: a batch size under 1.
        """
        precision = Precision(precision)
        batch_size = BATCH_SIZES[precision] if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        litert_interpreter_class()  # a missing runtime is named before any other work
        path = Path(weights)
        model = float_model_bytes(path) if precision is Precision.FLOAT32 else path
        # the same thread budget as torch (BRANDMOOD_THREADS, default cores - 1), so the
        # runtime's own thread pool does not compete with torch's on a small machine
        self._interp = litert_interpreter(model, num_threads=configure_torch_threads())
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = [d["index"] for d in self._interp.get_output_details()]
        self._batch = 0
        self._lock = threading.Lock()
        self.batch_size = batch_size
        self.precision = precision
        self.info = (ModelInfo(NAME, f"{VERSION}-float32", _sha256(path))
                     if precision is Precision.FLOAT32
                     else ModelInfo(INT8_NAME, VERSION, _sha256(path)))

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if len(x) != self._batch:
            self._interp.resize_tensor_input(self._in, [len(x), SIZE, SIZE, 3])
            self._interp.allocate_tensors()
            self._batch = len(x)
        self._interp.set_tensor(self._in, np.ascontiguousarray(x, np.float32))
        self._interp.invoke()
        probs = np.array(self._interp.get_tensor(self._out[0]), np.float32)
        if len(self._out) < 2:
            return probs, None
        fmap = self._interp.get_tensor(self._out[1])            # (n, 6, 6, 1280)
        return probs, fmap.mean(axis=(1, 2), dtype=np.float32)

    def _batches(self, crops: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        x = to_facex_input(crops)
        if x.shape[1:3] != (SIZE, SIZE):
            raise ValueError(f"crops must be {SIZE}×{SIZE}, got {x.shape[1]}×{x.shape[2]}")
        with self._lock:
            return [self._run(x[start:start + self.batch_size])
                    for start in range(0, len(x), self.batch_size)]

    def scores(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 200, 200, 3)`` uint8 RGB → ``(n, 7)`` softmax in :data:`FACEX_LABELS` order."""
        outs = [p for p, _ in self._batches(crops)]
        return np.concatenate(outs) if outs else np.zeros((0, len(FACEX_LABELS)), np.float32)

    def features(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 200, 200, 3)`` uint8 RGB → ``(n, 1280)`` float32: the penultimate map (the
        final dense layer's input, ``(6, 6, 1280)``) averaged over space.

        Raises:
            ValueError: on the int8 model (only the float32 rewrite exposes the layer).
        """
        if self.precision is not Precision.FLOAT32:
            raise ValueError("features need the float32 facex model")
        outs = [f for _, f in self._batches(crops)]
        return np.concatenate(outs) if outs else np.zeros((0, FEATURE_DIM), np.float32)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 200, 200, 3)`` uint8 RGB → ``(n, 8)`` probabilities (contempt NaN)."""
        return to_emotion_order(self.scores(crops), FACEX_LABELS)


@lru_cache(maxsize=1)
def float_model_bytes(path: Path) -> bytes:
    """The float32 rewrite of the facex file (built once per process, about 10 MB).

    Its second output is the penultimate map (:meth:`FacexClassifier.features`).
    """
    return float_model(path, extra_outputs=(penultimate_tensor(path),))


def penultimate_tensor(path: Path) -> int:
    """Id of the final dense layer's input tensor in the facex file.

    Raises:
        analytics.classifiers.tflite_graph.TFLiteGraphError: the file has no single dense
            layer.
    """
    dense = [op for op in read_graph(path)[0] if op.name == "FULLY_CONNECTED"]
    if len(dense) != 1:
        raise TFLiteGraphError(f"{path}: expected one dense layer, found {len(dense)}")
    return dense[0].inputs[0]


@lru_cache(maxsize=2)
def _sha256(path: Path) -> str:
    return sha256_file(path)
