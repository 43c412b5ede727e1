"""Any ONNX emotion model on onnxruntime (CPU), described by a manifest or a known preset.

Names the registry accepts:

* ``onnx:<path>.onnx`` — a model file; its manifest is ``<path>.json`` beside it, or the
  preset whose file name matches (``enet_b0_8_best_vgaf.onnx``, ``emotion-ferplus-8.onnx``).
* ``onnx:<preset>`` — ``hsemotion-enet-b0-8`` or ``ferplus-8``: the file comes from the
  env var ``BRANDMOOD_ONNX_<NAME>`` (name upper-cased, ``-`` → ``_``), else the cache
  (``$BRANDMOOD_CACHE/models/<file>``), else a download from the publisher's URL, only
  when the preset pins a sha256 (:func:`brandmood.core.fetch.download_file` verifies it).
* a JSON manifest with ``"arch": "onnx"``.
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
    load_manifest,
    parse_labels,
    preprocess,
    to_emotions,
)


class ModelUnavailableError(RuntimeError):
    """The weights are not here and cannot be fetched (why, and how to provide them)."""


@dataclass(frozen=True)
class OnnxPreset:
    """A published ONNX emotion model: where it comes from and how to feed it."""

    name: str
    filename: str
    url: str
    sha256: str
    """Hex sha256 of the published file; "" where unknown (then it is never downloaded)."""
    manifest: ModelManifest

    @property
    def env_var(self) -> str:
        return "BRANDMOOD_ONNX_" + self.name.upper().replace("-", "_")


def _preset(name: str, filename: str, url: str, sha256: str, labels: list[str], size: int,
            color: ColorMode, mean, std, scale: float, version: str) -> OnnxPreset:
    m = ModelManifest(arch=Arch.ONNX, labels=parse_labels(labels, name), input_size=size,
                      color=color, mean=tuple(mean), std=tuple(std), weights=Path(filename),
                      weights_sha256=sha256, name=name, version=version, input_scale=scale)
    return OnnxPreset(name, filename, url, sha256, m)


PRESETS: dict[str, OnnxPreset] = {p.name: p for p in (
    # HSEmotion (Savchenko), Apache-2.0, AffectNet-trained EfficientNet-B0; pinned commit.
    # sha256 as reported by a third-party pin of this commit (verified on download).
    _preset("hsemotion-enet-b0-8", "enet_b0_8_best_vgaf.onnx",
            "https://github.com/av-savchenko/hsemotion-onnx/raw/"
            "bd500bd3a685013d18883c349e8940d020cacd98/models/affectnet_emotions/onnx/"
            "enet_b0_8_best_vgaf.onnx",
            "00085f9a8ef0bf8fc24a645550185703768951a53aff9f141c8637529eba1840",
            ["anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness",
             "surprise"], 224, ColorMode.RGB, IMAGENET_MEAN, IMAGENET_STD, 1 / 255, "vgaf"),
    # FER+ (Barsoum et al.), ONNX Model Zoo, MIT; raw 0-255 gray input, logits out.
    _preset("ferplus-8", "emotion-ferplus-8.onnx",
            "https://github.com/onnx/models/raw/main/validated/vision/body_analysis/"
            "emotion_ferplus/model/emotion-ferplus-8.onnx",
            "0d654fbd8208bcf72732c8830fb8438623b955993ec43768a3f219281015f93e",
            ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
             "contempt"], 64, ColorMode.GRAY, (0.0,), (1.0,), 1.0, "8"),
)}


def preset_for_file(path: Path) -> OnnxPreset | None:
    """The preset whose published file name is ``path``'s name, if any."""
    return next((p for p in PRESETS.values() if p.filename == path.name), None)


def locate_preset(preset: OnnxPreset, *, download: bool = True) -> Path:
    """Find a preset's file: env var, then cache, then (if allowed and pinned) download.

    Raises:
        ModelUnavailableError: if it is nowhere and cannot be fetched.
    """
    from brandmood.core.fetch import AssetError, cache_dir, download_file
    from brandmood.core.settings import load_config

    env = load_config().onnx_weights_for(preset.name)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ModelUnavailableError(f"{preset.env_var}={env} is not a file")
        return path
    cached = cache_dir() / "models" / preset.filename
    if cached.is_file():
        return cached
    how = (f"put {preset.filename} in {cached.parent} or set {preset.env_var} "
           f"(published at {preset.url})")
    if not download:
        raise ModelUnavailableError(f"{preset.name}: weights not found; {how}")
    if not preset.sha256:
        raise ModelUnavailableError(f"{preset.name}: no pinned sha256, so it is not downloaded "
                                    f"unverified; {how}")
    try:
        return download_file(preset.url, preset.sha256, cached)
    except AssetError as exc:
        raise ModelUnavailableError(f"{preset.name}: {exc}; {how}") from None


class OnnxClassifier:
    """An ONNX model behind :class:`~analytics.classifiers.base.EmotionClassifier`."""

    def __init__(self, manifest: ModelManifest, *, threads: int | None = None) -> None:
        import onnxruntime as ort

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


def onnx_manifest(spec: str, *, download: bool = True) -> ModelManifest:
    """Resolve the part after ``onnx:`` (a preset name or a .onnx path) to a manifest.

    Raises:
        ModelUnavailableError: a preset whose file is absent and cannot be fetched.
        ManifestError: a path with neither a sidecar manifest nor a known file name.
    """
    if spec in PRESETS:
        preset = PRESETS[spec]
        return replace(preset.manifest, weights=locate_preset(preset, download=download))
    path = Path(spec).expanduser().resolve()
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        m = load_manifest(sidecar)
        if m.arch is not Arch.ONNX:
            raise ManifestError(f"{sidecar.name}: arch is {m.arch.value}, not onnx")
        return replace(m, weights=path)
    preset = preset_for_file(path)
    if preset is None:
        raise ManifestError(f"{path.name}: no manifest {sidecar.name} beside it and not a known "
                            f"model ({', '.join(p.filename for p in PRESETS.values())})")
    if not path.is_file():
        raise ModelUnavailableError(f"{path} does not exist")
    return replace(preset.manifest, weights=path)
