"""The JSON manifest that travels beside a model's weights, read and validated in one place.

```json
{"arch": "resnet50", "labels": ["neutral", "happy", ...], "input_size": 224, "color": "rgb",
 "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "weights": "model.pt",
 "weights_sha256": "<hex>", "name": "acme-resnet", "version": "1"}
```

Optional keys: ``layout`` (``nchw`` default, or ``nhwc``; ONNX only), ``output`` (``logits``
default, or ``probs``), ``input_scale`` (pixel multiplier before mean/std, default ``1/255``;
``1`` feeds raw 0–255 values), ``margin`` (crop context, default 0.2; 0 for
``fer-adapted``, like its base; negative cuts inside the box), ``base_model``,
``calibration`` (a map :meth:`analytics.calibration.Calibration.from_dict` reads) and
``min_confidence`` (the uncertainty threshold on its calibrated probabilities).
A model's input is ``(pixel * input_scale - mean) / std`` per channel.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from analytics.classifiers.base import ColorMode, InputSpec
from brandmood.core.fetch import sha256_file
from brandmood.core.types import EMOTIONS, N_EMOTIONS, Emotion, ModelInfo

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


class ManifestError(ValueError):
    """A manifest is malformed, or does not match the weights it names."""


class Arch(enum.StrEnum):
    """How to load the weights a manifest names."""

    RESNET50 = "resnet50"
    FER_ADAPTED = "fer-adapted"
    ONNX = "onnx"


class Layout(enum.StrEnum):
    """Axis order of the model's input tensor."""

    NCHW = "nchw"
    NHWC = "nhwc"


class OutputKind(enum.StrEnum):
    """What the model's output holds: raw scores (softmax applied here) or probabilities."""

    LOGITS = "logits"
    PROBS = "probs"


@dataclass(frozen=True)
class ModelManifest:
    """A validated manifest.

    Attributes:
        arch: loader to use.
        labels: emotion of each model output, in output order (unique, at most eight).
        input_size: side of the square input in pixels.
        color: gray or RGB input.
        mean, std: per-channel normalisation (length 1 for gray, 3 for RGB).
        weights: absolute path of the weights file.
        weights_sha256: expected hex sha256 of ``weights`` ("" = not pinned).
        name, version: identify the model in results.
    """

    arch: Arch
    labels: tuple[Emotion, ...]
    input_size: int
    color: ColorMode
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: Path
    weights_sha256: str
    name: str
    version: str
    layout: Layout = Layout.NCHW
    output: OutputKind = OutputKind.LOGITS
    input_scale: float = 1 / 255
    margin: float = 0.2
    base_model: str = ""
    calibration: dict | None = None
    min_confidence: float | None = None

    @property
    def input_spec(self) -> InputSpec:
        """How the pipeline should cut faces for this model."""
        return InputSpec(size=self.input_size, margin=self.margin, color=self.color)

    def info(self) -> ModelInfo:
        """Model name, version and pinned sha256 for results."""
        return ModelInfo(self.name, self.version, self.weights_sha256)

    def verify_weights(self) -> None:
        """Check that the weights file exists and matches ``weights_sha256``.

        Raises:
            ManifestError: if the file is absent or its sha256 differs.
        """
        if not self.weights.is_file():
            raise ManifestError(f"{self.name}: weights file {self.weights} does not exist")
        if self.weights_sha256:
            got = sha256_file(self.weights)
            if got != self.weights_sha256:
                raise ManifestError(f"{self.name}: {self.weights.name} has sha256 {got}, "
                                    f"the manifest pins {self.weights_sha256}")


def _get(data: dict, key: str, kind: type | tuple[type, ...], where: str):
    if key not in data:
        raise ManifestError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ManifestError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _enum(cls: type[enum.Enum], value: object, key: str, where: str):
    try:
        return cls(str(value).lower())
    except ValueError:
        choices = ", ".join(m.value for m in cls)
        raise ManifestError(f"{where}: {key!r} is {value!r}; expected one of {choices}") from None


def parse_labels(raw: object, where: str) -> tuple[Emotion, ...]:
    """Validate a list of emotion names (synonyms allowed; unique; 2 to 8 of them)."""
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ManifestError(f"{where}: 'labels' must be a list of emotion names")
    try:
        labels = tuple(Emotion.parse(x) for x in raw)
    except ValueError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    if len(set(labels)) != len(labels) or not 2 <= len(labels) <= N_EMOTIONS:
        raise ManifestError(f"{where}: 'labels' must be 2 to 8 distinct emotions, got {raw}")
    return labels


def _norm(data: dict, key: str, default: tuple[float, ...], color: ColorMode,
          where: str) -> tuple[float, ...]:
    raw = data.get(key, list(default))
    if not isinstance(raw, list) or not all(isinstance(x, int | float) for x in raw):
        raise ManifestError(f"{where}: {key!r} must be a list of numbers")
    want = (1, 3) if color is ColorMode.GRAY else (3,)
    if len(raw) not in want:
        raise ManifestError(f"{where}: {key!r} needs {' or '.join(map(str, want))} values "
                            f"for {color.value} input, got {len(raw)}")
    if key == "std" and any(x <= 0 for x in raw):
        raise ManifestError(f"{where}: 'std' values must be positive")
    if color is ColorMode.GRAY and len(raw) == 3:
        raw = [float(np.mean(raw))]
    return tuple(float(x) for x in raw)


def manifest_from_dict(data: dict, base_dir: Path, where: str = "manifest") -> ModelManifest:
    """Validate a parsed manifest; relative ``weights`` resolve against ``base_dir``.

    Raises:
        ManifestError: naming the first problem found.
    """
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a JSON object")
    arch = _enum(Arch, _get(data, "arch", str, where), "arch", where)
    color = _enum(ColorMode, data.get("color", "rgb"), "color", where)
    size = _get(data, "input_size", int, where)
    if not 8 <= size <= 1024:
        raise ManifestError(f"{where}: 'input_size' {size} is outside 8..1024")
    sha = str(data.get("weights_sha256", "")).lower()
    if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ManifestError(f"{where}: 'weights_sha256' is not a hex sha256")
    weights = Path(_get(data, "weights", str, where)).expanduser()
    scale = float(data.get("input_scale", 1 / 255))
    # fer-adapted reuses the base model's features, so it defaults to the base's tight crop.
    margin = float(data.get("margin", 0.0 if arch is Arch.FER_ADAPTED else 0.2))
    if not (math.isfinite(scale) and scale > 0) or not -0.5 < margin <= 1:
        raise ManifestError(f"{where}: 'input_scale' must be > 0 and 'margin' in (-0.5, 1]")
    calibration = data.get("calibration")
    min_conf = data.get("min_confidence")
    if calibration is not None and not isinstance(calibration, dict):
        raise ManifestError(f"{where}: 'calibration' must be an object")
    if min_conf is not None and not (isinstance(min_conf, int | float) and 0 <= min_conf <= 1):
        raise ManifestError(f"{where}: 'min_confidence' must be a number in [0, 1]")
    mean_default = (0.5,) if color is ColorMode.GRAY else IMAGENET_MEAN
    std_default = (0.5,) if color is ColorMode.GRAY else IMAGENET_STD
    return ModelManifest(
        arch=arch, labels=parse_labels(data.get("labels"), where), input_size=size, color=color,
        mean=_norm(data, "mean", mean_default, color, where),
        std=_norm(data, "std", std_default, color, where),
        weights=weights if weights.is_absolute() else (base_dir / weights).resolve(),
        weights_sha256=sha, name=str(data.get("name") or weights.stem),
        version=str(data.get("version", "1")),
        layout=_enum(Layout, data.get("layout", "nchw"), "layout", where),
        output=_enum(OutputKind, data.get("output", "logits"), "output", where),
        input_scale=scale, margin=margin, base_model=str(data.get("base_model", "")),
        calibration=calibration, min_confidence=None if min_conf is None else float(min_conf))


def load_manifest(path: Path) -> ModelManifest:
    """Read and validate a JSON manifest file.

    Raises:
        ManifestError: if the file is missing, not JSON, or invalid.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path.name}: not a readable JSON manifest ({exc})") from None
    return manifest_from_dict(data, path.parent, where=path.name)


def preprocess(crops: np.ndarray, m: ModelManifest) -> np.ndarray:
    """``(n, S, S, 3)`` uint8 RGB crops → float32 model input in ``m``'s layout.

    Crops of another size are resized (bilinear) to ``m.input_size``.

    Returns:
        ``(n, C, S, S)`` for NCHW or ``(n, S, S, C)`` for NHWC, C = 1 (gray) or 3 (RGB).
    """
    arr = np.asarray(crops)
    if arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"crops must be (n, S, S, 3) uint8 RGB, got {arr.shape} {arr.dtype}")
    if arr.shape[1:3] != (m.input_size, m.input_size):
        arr = resize_crops(arr, m.input_size)
    x = arr.astype(np.float32)
    if m.color is ColorMode.GRAY:
        x = np.round(x @ GRAY_WEIGHTS)[..., None]
    x = (x * np.float32(m.input_scale) - np.asarray(m.mean, np.float32)) / np.asarray(
        m.std, np.float32)
    if m.layout is Layout.NCHW:
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)


def resize_crops(crops: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(n, H, W, 3)`` uint8 crops to ``(n, size, size, 3)`` (bilinear)."""
    out = np.empty((len(crops), size, size, 3), np.uint8)
    for i, crop in enumerate(crops):
        out[i] = np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR))
    return out


def to_emotions(scores: np.ndarray, m: ModelManifest) -> np.ndarray:
    """Model outputs ``(n, k)`` in ``m.labels`` order → ``(n, 8)`` probabilities, NaN-filled.

    Raises:
        ManifestError: if ``k`` differs from the number of labels.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(m.labels):
        raise ManifestError(f"{m.name}: model gives {s.shape[-1]} outputs but the manifest "
                            f"lists {len(m.labels)} labels")
    if m.output is OutputKind.LOGITS:
        s = np.exp(s - s.max(axis=1, keepdims=True))
        s /= s.sum(axis=1, keepdims=True)
    out = np.full((len(s), N_EMOTIONS), np.nan, np.float32)
    for j, label in enumerate(m.labels):
        out[:, EMOTIONS.index(label)] = s[:, j]
    return out
