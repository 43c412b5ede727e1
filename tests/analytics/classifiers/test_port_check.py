"""The port-check tools (benchmarks/port_check*.py, benchmarks/README.md "Port checks") on a
few real faces: quick enough for the default suite (a few seconds), so the tools cannot rot.
ai-edge-litert is a dependency of brandmood (facex), so nothing here is skipped for it."""

from __future__ import annotations

import numpy as np

from benchmarks import port_check, port_check_facex


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


def test_facex_port_check_runs_on_a_folder_of_real_crops(tight_crops, tmp_path) -> None:
    """benchmarks/port_check_facex.py end to end on a few real faces: float32 == PyTorch."""
    import json

    from PIL import Image

    crops = np.concatenate([c for c in tight_crops.values() if len(c)])[:6]
    folder = tmp_path / "crops"
    folder.mkdir()
    for i, crop in enumerate(crops):
        Image.fromarray(crop).save(folder / f"{i}.png")
    out = tmp_path / "port.json"
    assert port_check_facex.main(["--data", str(folder), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_crops"] == 6 and result["reference_within_1e-4"] is True
    ref = result["agreements"]["float32 vs torch-reference"]
    assert ref["max_abs_diff"] <= 1e-4 and ref["top_class_agreement"] == 1.0
    assert 0.0 <= result["agreements"]["float32 vs int8-xnnpack"]["max_abs_diff"] < 0.5
    assert set(result["cpu_ms_per_face"]) == {"float32", "int8-xnnpack", "int8-builtin"}
    assert result["speedup_vs_int8"] > 0
