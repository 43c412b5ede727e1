"""Any ONNX emotion model on onnxruntime (CPU), described by a manifest or a known preset.

Names the registry (:mod:`analytics.classifiers.registry`) accepts:

* ``onnx:<path>.onnx`` — a model file; its manifest is ``<path>.json`` beside it, or the
  preset whose file name matches (``enet_b0_8_best_vgaf.onnx``, ``emotion-ferplus-8.onnx``).
* ``onnx:<preset>`` — ``hsemotion-enet-b0-8`` or ``ferplus-8``: the registry finds the file
  (env var ``BRANDMOOD_ONNX_<NAME>``, name upper-cased, ``-`` → ``_``; else the cache,
  ``$BRANDMOOD_CACHE/models/<file>``; else a download from the publisher's URL, only when
  the preset pins a sha256) and hands its path to :class:`OnnxClassifier` in the manifest.
* a JSON manifest with ``"arch": "onnx"``.

``onnxruntime`` is imported when a model is loaded, not with this module (listing models
stays light).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from analytics.classifiers.base import ColorMode
from analytics.classifiers.manifest import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Arch,
    Layout,
    ManifestError,
    ModelManifest,
    parse_labels,
    preprocess,
    to_emotions,
)


@dataclass(frozen=True)
class OnnxPreset:
    """A published ONNX emotion model: where it comes from and how to feed it."""

    name: str
    filename: str
    url: str
    sha256: str
    """Hex sha256 of the published file; "" where unknown (then it is never downloaded)."""
    manifest: ModelManifest
    description: str = ""

    @property
    def env_var(self) -> str:
        return "BRANDMOOD_ONNX_" + self.name.upper().replace("-", "_")

    def classifier(self, weights: Path) -> OnnxClassifier:
        """The preset's model from its file ``weights`` (checked against the pinned sha256)."""
        return OnnxClassifier(replace(self.manifest, weights=Path(weights)))


def _preset(name: str, filename: str, url: str, sha256: str, labels: list[str], size: int,
            color: ColorMode, mean, std, scale: float, version: str,
            description: str) -> OnnxPreset:
    m = ModelManifest(arch=Arch.ONNX, labels=parse_labels(labels, name), input_size=size,
                      color=color, mean=tuple(mean), std=tuple(std), weights=Path(filename),
                      weights_sha256=sha256, name=name, version=version, input_scale=scale)
    return OnnxPreset(name, filename, url, sha256, m, description)


PRESETS: dict[str, OnnxPreset] = {p.name: p for p in (
    # HSEmotion (Savchenko), Apache-2.0, AffectNet-trained EfficientNet-B0; pinned commit.
    # sha256 as reported by a third-party pin of this commit (verified on download).
    _preset("hsemotion-enet-b0-8", "enet_b0_8_best_vgaf.onnx",
            "https://github.com/av-savchenko/hsemotion-onnx/raw/"
            "bd500bd3a685013d18883c349e8940d020cacd98/models/affectnet_emotions/onnx/"
            "enet_b0_8_best_vgaf.onnx",
            "00085f9a8ef0bf8fc24a645550185703768951a53aff9f141c8637529eba1840",
            ["anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness",
             "surprise"], 224, ColorMode.RGB, IMAGENET_MEAN, IMAGENET_STD, 1 / 255, "vgaf",
            "HSEmotion EfficientNet-B0 AffectNet (8 classes, 224 RGB)"),
    # FER+ (Barsoum et al.), ONNX Model Zoo, MIT; raw 0-255 gray input, logits out.
    _preset("ferplus-8", "emotion-ferplus-8.onnx",
            "https://github.com/onnx/models/raw/main/validated/vision/body_analysis/"
            "emotion_ferplus/model/emotion-ferplus-8.onnx",
            "0d654fbd8208bcf72732c8830fb8438623b955993ec43768a3f219281015f93e",
            ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
             "contempt"], 64, ColorMode.GRAY, (0.0,), (1.0,), 1.0, "8",
            "FER+ emotion-ferplus-8, ONNX Model Zoo (8 classes, 64 gray)"),
)}


def preset_for_file(path: Path) -> OnnxPreset | None:
    """The preset whose published file name is ``path``'s name, if any."""
    return next((p for p in PRESETS.values() if p.filename == path.name), None)


class OnnxClassifier:
    """An ONNX model behind :class:`~analytics.classifiers.base.EmotionClassifier`."""

    def __init__(self, manifest: ModelManifest, *, threads: int | None = None) -> None:
        """Load the model file ``manifest.weights`` (checked against its sha256).

        Raises:
            ManifestError: a file that is absent, does not match the manifest's sha256, or
                whose input shape does not fit the manifest.
        """
        import onnxruntime as ort  # imported with the first model, not with the module

        manifest.verify_weights()
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.manifest = manifest
        self.session = ort.InferenceSession(str(manifest.weights), opts,
                                            providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self._input_name = inp.name
        self._check_input_shape(inp.shape)
        self.info = manifest.info()
        self.input_spec = manifest.input_spec

    def _check_input_shape(self, shape: list) -> None:
        m = self.manifest
        channels = 1 if m.color is ColorMode.GRAY else 3
        want = ([channels, m.input_size, m.input_size] if m.layout is Layout.NCHW
                else [m.input_size, m.input_size, channels])
        got = list(shape[1:])
        if len(got) != 3 or any(isinstance(g, int) and g != w for g, w in zip(got, want,
                                                                              strict=True)):
            raise ManifestError(f"{m.name}: the ONNX input has shape {shape}, the manifest "
                                f"implies [n, {', '.join(map(str, want))}]")

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n, S, S, 3)`` uint8 RGB → ``(n, 8)`` probabilities (NaN for absent classes)."""
        x = preprocess(crops, self.manifest)
        if len(x) == 0:
            return np.zeros((0, 8), np.float32)
        out = self.session.run(None, {self._input_name: x})[0]
        return to_emotions(np.asarray(out).reshape(len(x), -1), self.manifest)
