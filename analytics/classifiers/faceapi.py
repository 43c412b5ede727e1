"""face-api's FaceExpressionNet (MIT, ``@vladmandic/face-api`` 1.7.15), ported to PyTorch.

The weights ship in the pinned npm tarball (:data:`brandmood.core.fetch.FACEAPI_NPM`) as
``model/face_expression_model.bin`` with its tfjs weights manifest
``model/face_expression_model-weights_manifest.json``; the registry fetches the tarball and
hands both paths to :class:`FaceApiClassifier`. They are read here with numpy (the manifest
lists each tensor's name, shape and byte format; uint8-quantised tensors are dequantised as
tfjs does, ``min + scale × q``). No JavaScript or TensorFlow runs at run time;
``benchmarks/port_check_faceapi.py`` compares the port with face-api's own code on tfjs.

The network (face-api ``src/faceFeatureExtractor``, ``src/faceProcessor``), NHWC in tfjs,
NCHW here:

* input ``(n, 112, 112, 3)`` RGB; ``x = (pixel − mean_rgb) / 255`` with mean_rgb =
  (122.782, 117.001, 104.298);
* four dense blocks of four convolutions each: the first of a block has stride 2 (a plain
  3×3 convolution in the first block, a depthwise-separable one after), the next three
  stride 1 depthwise-separable; each block's output is ``relu(out1 + out2 + out3 + out4)``
  with dense skip connections (``denseBlock4``). 'same' padding as TensorFlow pads it: for
  stride 2 on an even side the extra pixel goes to the bottom/right;
* 7×7 average pooling (stride 2, 'valid') of the ``(256, 7, 7)`` map → ``(n, 256)``
  (:meth:`FaceExpressionNet.features`), then a fully connected layer to 7 logits, softmax.

Labels (face-api ``FACE_EXPRESSION_LABELS``): neutral, happy, sad, angry, fearful, disgusted,
surprised, mapped into :data:`brandmood.core.types.EMOTIONS`; contempt is NaN.

The crop: face-api classifies the face box padded to a square (centred) and resized to 112.
Here the crop is the square around the MTCNN box (``InputSpec.margin`` of extra context per
side, chosen by grouped cross-validation over people on the dev sets; docs/models.md).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from analytics.classifiers.base import ColorMode, InputSpec, to_emotion_order
from brandmood.core.fetch import sha256_file
from brandmood.core.types import Emotion, ModelInfo

NAME = "faceapi"
VERSION = "1.7.15"
SIZE = 112
FEATURE_DIM = 256
"""Width of :meth:`FaceExpressionNet.features`."""
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)
FACEAPI_LABELS: tuple[Emotion, ...] = (Emotion.NEUTRAL, Emotion.HAPPY, Emotion.SAD,
                                       Emotion.ANGER, Emotion.FEAR, Emotion.DISGUST,
                                       Emotion.SURPRISE)
"""Order of the network's seven outputs (face-api ``FACE_EXPRESSION_LABELS``)."""
MARGIN = -0.1
"""Context around the MTCNN box per side, as a fraction of its longer side: negative, a square
about as wide as the box. Chosen by cross-validation over people (``benchmarks/model_cv.py``:
in every fold of every repeat, from -0.15 … 0.05; docs/models.md)."""
CHANNELS = (32, 64, 128, 256)
"""Output channels of the four dense blocks."""

_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16,
           "float16": np.float16}


class FaceApiWeightsError(ValueError):
    """The manifest or the binary does not hold what FaceExpressionNet needs."""


def read_tfjs_weights(manifest: Path, binary: Path) -> dict[str, np.ndarray]:
    """Every tensor of a tfjs weights manifest, dequantised to float32 (as tfjs decodes it).

    Args:
        manifest: a tfjs ``*-weights_manifest.json`` (one group whose ``paths`` name
            ``binary``).
        binary: the concatenated weights file.

    Returns:
        ``{name: array}`` with the manifest's shapes (tfjs layout, e.g. HWIO kernels).

    Raises:
        FaceApiWeightsError: an unknown byte format, or sizes that do not add up.
    """
    groups = json.loads(Path(manifest).read_text(encoding="utf-8"))
    data = Path(binary).read_bytes()
    specs = [w for g in groups for w in g["weights"]]
    out: dict[str, np.ndarray] = {}
    offset = 0
    for w in specs:
        shape = tuple(int(d) for d in w["shape"])
        count = math.prod(shape)
        q = w.get("quantization")
        kind = q["dtype"] if q else w["dtype"]
        if kind not in _DTYPES:
            raise FaceApiWeightsError(f"{w['name']}: unsupported weight format {kind!r}")
        size = count * np.dtype(_DTYPES[kind]).itemsize
        if offset + size > len(data):
            raise FaceApiWeightsError(f"{Path(binary).name} ends inside {w['name']}")
        raw = np.frombuffer(data, _DTYPES[kind], count, offset).astype(np.float32)
        offset += size
        if q and kind in ("uint8", "uint16"):
            raw = np.float32(q["min"]) + np.float32(q["scale"]) * raw
        out[w["name"]] = raw.reshape(shape)
    if offset != len(data):
        raise FaceApiWeightsError(f"{Path(binary).name} has {len(data) - offset} bytes the "
                                  "manifest does not describe")
    return out


def _same(x: torch.Tensor, stride: int) -> torch.Tensor:
    """TensorFlow 'same' padding for a 3×3 kernel (the extra pixel after, for stride 2)."""
    if stride == 1:
        return F.pad(x, (1, 1, 1, 1))
    h, w = x.shape[2:]
    ph = max((math.ceil(h / stride) - 1) * stride + 3 - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + 3 - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class SeparableConv(nn.Module):
    """tfjs ``separableConv2d`` (3×3 depthwise, multiplier 1, then 1×1) plus a bias."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.depthwise = nn.Conv2d(cin, cin, 3, stride=stride, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(_same(x, self.stride)))


class DenseBlock(nn.Module):
    """face-api ``denseBlock4``: four convolutions with dense skips, ReLU after each sum."""

    def __init__(self, cin: int, cout: int, *, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv0: nn.Module = (nn.Conv2d(cin, cout, 3, stride=2) if first
                                 else SeparableConv(cin, cout, 2))
        self.conv1 = SeparableConv(cout, cout, 1)
        self.conv2 = SeparableConv(cout, cout, 1)
        self.conv3 = SeparableConv(cout, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu(self.conv0(_same(x, 2)) if self.first else self.conv0(x))
        out2 = self.conv1(out1)
        out3 = self.conv2(F.relu(out1 + out2))
        out4 = self.conv3(F.relu(out1 + out2 + out3))
        return F.relu(out1 + out2 + out3 + out4)


class FaceExpressionNet(nn.Module):
    """The PyTorch FaceExpressionNet: ``(n, 3, 112, 112)`` normalised → ``(n, 7)`` logits."""

    def __init__(self) -> None:
        super().__init__()
        cins = (3, *CHANNELS[:-1])
        self.blocks = nn.ModuleList(DenseBlock(i, o, first=k == 0)
                                    for k, (i, o) in enumerate(zip(cins, CHANNELS, strict=True)))
        self.fc = nn.Linear(FEATURE_DIM, len(FACEAPI_LABELS))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 3, 112, 112)`` normalised input → ``(n, 256)`` bottleneck (the fc input)."""
        for block in self.blocks:
            x = block(x)
        return F.avg_pool2d(x, 7, stride=2).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def _hwio(k: np.ndarray) -> torch.Tensor:
    """tfjs ``(kh, kw, cin, cout)`` → torch ``(cout, cin, kh, kw)``."""
    return torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))


def port_weights(weights: dict[str, np.ndarray]) -> FaceExpressionNet:
    """Copy face-api's tensors (:func:`read_tfjs_weights`) into a :class:`FaceExpressionNet`.

    Raises:
        FaceApiWeightsError: a tensor is missing or has another shape.
    """
    model = FaceExpressionNet()
    targets: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for b, block in enumerate(model.blocks):
        p = f"dense{b}"
        if block.first:
            targets[f"{p}/conv0/filters"] = (block.conv0.weight, None)
            targets[f"{p}/conv0/bias"] = (block.conv0.bias, None)
        for c in range(4):
            conv = getattr(block, f"conv{c}")
            if isinstance(conv, SeparableConv):
                targets[f"{p}/conv{c}/depthwise_filter"] = (conv.depthwise.weight, "depthwise")
                targets[f"{p}/conv{c}/pointwise_filter"] = (conv.pointwise.weight, None)
                targets[f"{p}/conv{c}/bias"] = (conv.pointwise.bias, None)
    targets["fc/weights"] = (model.fc.weight, "fc")
    targets["fc/bias"] = (model.fc.bias, None)
    with torch.no_grad():
        for name, (param, kind) in targets.items():
            if name not in weights:
                raise FaceApiWeightsError(f"the weights have no tensor {name}")
            w = weights[name]
            if kind == "depthwise":  # (3, 3, c, 1) → (c, 1, 3, 3)
                t = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 0, 1)))
            elif kind == "fc":  # (256, 7) → (7, 256)
                t = torch.from_numpy(np.ascontiguousarray(w.T))
            else:
                t = _hwio(w) if w.ndim == 4 else torch.from_numpy(w.copy())
            if tuple(t.shape) != tuple(param.shape):
                raise FaceApiWeightsError(f"{name}: shape {w.shape} does not fit the network")
            param.copy_(t)
    return model.eval()


@lru_cache(maxsize=2)
def load_faceapi_model(weights: Path, manifest: Path) -> FaceExpressionNet:
    """The ported network in eval mode, loaded once per process and pair of files."""
    model = port_weights(read_tfjs_weights(Path(manifest), Path(weights)))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def to_faceapi_input(crops: np.ndarray) -> torch.Tensor:
    """``(n, 112, 112, 3)`` uint8 RGB → ``(n, 3, 112, 112)`` float32 ``(x − mean_rgb) / 255``.

    Raises:
        ValueError: crops that are not ``(n, 112, 112, 3)`` uint8.
    """
    arr = np.asarray(crops)
    if arr.ndim != 4 or arr.shape[1:] != (SIZE, SIZE, 3) or arr.dtype != np.uint8:
        raise ValueError(f"crops must be (n, {SIZE}, {SIZE}, 3) uint8 RGB, got {arr.shape} "
                         f"{arr.dtype}")
    x = (arr.astype(np.float32) - MEAN_RGB) / np.float32(255.0)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class FaceApiClassifier:
    """face-api's FaceExpressionNet behind :class:`EmotionClassifier` (7 classes, 112 RGB)."""

    input_spec = InputSpec(size=SIZE, margin=MARGIN, color=ColorMode.RGB)

    def __init__(self, weights: Path, manifest: Path, *, batch_size: int = 64) -> None:
        """Read and port the weights.

        Args:
            weights: ``model/face_expression_model.bin`` (its sha256 is recorded).
            manifest: ``model/face_expression_model-weights_manifest.json``.
            batch_size: crops per forward pass.

        Raises:
            FaceApiWeightsError: files that do not hold FaceExpressionNet.
        """
        self.model = load_faceapi_model(Path(weights), Path(manifest))
        self.batch_size = batch_size
        self.info = ModelInfo(NAME, VERSION, _sha256(Path(weights)))

    def _run(self, crops: np.ndarray, fn) -> np.ndarray:
        x = to_faceapi_input(crops)
        outs = []
        with torch.inference_mode():
            for start in range(0, len(x), self.batch_size):
                outs.append(fn(x[start:start + self.batch_size]))
        return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 112, 112, 3)`` uint8 RGB → ``(n, 7)`` logits in :data:`FACEAPI_LABELS` order."""
        out = self._run(crops, self.model)
        return out if len(out) else np.zeros((0, len(FACEAPI_LABELS)), np.float32)

    def features(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 112, 112, 3)`` uint8 RGB → ``(n, 256)`` float32 bottleneck features."""
        out = self._run(crops, self.model.features)
        return out if len(out) else np.zeros((0, FEATURE_DIM), np.float32)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 112, 112, 3)`` uint8 RGB → ``(n, 8)`` probabilities (contempt NaN)."""
        probs = torch.softmax(torch.from_numpy(self.logits(crops)), dim=1).numpy()
        return to_emotion_order(probs, FACEAPI_LABELS)


@lru_cache(maxsize=4)
def _sha256(path: Path) -> str:
    return sha256_file(path)


__all__ = ["FACEAPI_LABELS", "FEATURE_DIM", "FaceApiClassifier", "FaceApiWeightsError",
           "FaceExpressionNet", "load_faceapi_model", "port_weights", "read_tfjs_weights",
           "to_faceapi_input"]
