"""Check facex in float32 (its 8-bit weights dequantized) against references, and time it.

    .venv/bin/python -m benchmarks.port_check_facex [--data FOLDER | --photos N] [--json OUT]

Crops: every image under ``--data`` resized to 200×200 (facex's input; CK+48 crops by
default, or the speed benchmark's photos' faces with ``--photos``). Runs of the same crops:

* ``float32`` — brandmood's ``facex``: :func:`analytics.classifiers.tflite_graph.float_model`
  run by ai-edge-litert with XNNPACK;
* ``torch-reference`` — the same float graph run op by op in PyTorch (``TFLiteGraph``), an
  independent implementation: the bar is 1e-4;
* ``int8-xnnpack`` / ``int8-builtin`` — the shipped file, with the default XNNPACK delegate
  and with TFLite's builtin kernels only. Their difference is TFLite's own spread on this
  model; the float32 model's distance to the shipped one is reported beside it.

Also CPU milliseconds per face for each runtime and batch size (same run, one thread).
Writes JSON with ``agreements``, ``cpu_ms_per_face`` and ``speedup_vs_int8``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.peer_common import (
    EVAL,
    BenchmarkError,
    cpu_seconds,
    image_files,
    print_table,
    write_json,
)

DEFAULT_DATA = EVAL / "ckplus48-dev"
BATCHES = (1, 4, 16, 32)


def folder_crops(folder: Path) -> np.ndarray:
    """Every image under ``folder`` as a ``(n, 200, 200, 3)`` uint8 RGB crop.

    Raises:
        BenchmarkError: there is no image.
    """
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((200, 200),
                                                                    Image.BILINEAR))
                     for p in image_files(folder)])


def photo_crops(n_photos: int) -> np.ndarray:
    """Faces of the speed benchmark's photos, cut as facex cuts them."""
    import tempfile

    from analytics.align import crop_faces
    from analytics.classifiers.facex import FacexClassifier
    from analytics.detection import MTCNNDetector
    from analytics.images import load_image
    from benchmarks.bench_media import build_photos

    with tempfile.TemporaryDirectory() as tmp:
        images = [load_image(p.path) for p in build_photos(Path(tmp), n_photos)]
    spec = FacexClassifier.input_spec
    dets = MTCNNDetector().detect(images)
    return np.concatenate([crop_faces(i, d, spec) for i, d in zip(images, dets, strict=True)])


def run_interpreter(model: Path | bytes, x: np.ndarray, batch: int, *,
                    builtin_only: bool = False) -> tuple[np.ndarray, float]:
    """``(n, 200, 200, 3)`` float32 → ``(n, 7)`` and CPU ms per face (after one warm-up)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if builtin_only
            else OpResolverType.AUTO)
    src = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    interp = Interpreter(**src, num_threads=1, experimental_op_resolver_type=kind)
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]

    def run(chunk: np.ndarray) -> np.ndarray:
        if interp.get_input_details()[0]["shape"][0] != len(chunk):
            interp.resize_tensor_input(inp, [len(chunk), *x.shape[1:]])
        interp.allocate_tensors()
        interp.set_tensor(inp, np.ascontiguousarray(chunk))
        interp.invoke()
        return np.array(interp.get_tensor(out))

    run(x[:batch])
    t = cpu_seconds()
    probs = np.concatenate([run(x[i:i + batch]) for i in range(0, len(x), batch)])
    return probs, (cpu_seconds() - t) * 1e3 / len(x)


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    diff = np.abs(a - b)
    return {"top_class_agreement": float(np.mean(a.argmax(1) == b.argmax(1))),
            "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--photos", type=int, default=0,
                        help="use the faces of this many speed-benchmark photos instead")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    import torch

    from analytics.classifiers.facex import float_model_bytes, to_facex_input
    from analytics.classifiers.registry import model_weights
    from analytics.classifiers.tflite_graph import TFLiteGraph

    if not args.photos and not args.data.is_dir():
        print(f"skipped: no face crops at {args.data}")
        return 0
    torch.set_num_threads(1)
    try:
        crops = photo_crops(args.photos) if args.photos else folder_crops(args.data)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    x = to_facex_input(crops)
    path = model_weights("facex")
    runs: dict[str, np.ndarray] = {}
    ms: dict[str, dict[int, float]] = {"float32": {}, "int8-xnnpack": {}, "int8-builtin": {}}
    for batch in BATCHES:
        runs["float32"], ms["float32"][batch] = run_interpreter(float_model_bytes(path), x, batch)
        runs["int8-xnnpack"], ms["int8-xnnpack"][batch] = run_interpreter(path, x, batch)
        runs["int8-builtin"], ms["int8-builtin"][batch] = run_interpreter(
            path, x, batch, builtin_only=True)
    graph = TFLiteGraph(path).eval()
    runs["torch-reference"] = graph(x).numpy()
    pairs = [("float32", "torch-reference"), ("float32", "int8-xnnpack"),
             ("float32", "int8-builtin"), ("int8-xnnpack", "int8-builtin")]
    agreements = {f"{a} vs {b}": agreement(runs[a], runs[b]) for a, b in pairs}
    print(f"{len(x)} crops ({'photos' if args.photos else args.data})")
    print_table(["pair", "top1 agree", "max |dp|", "mean |dp|"],
                [[k, v["top_class_agreement"], f"{v['max_abs_diff']:.2e}",
                  f"{v['mean_abs_diff']:.2e}"] for k, v in agreements.items()])
    print()
    print_table(["runtime", *[f"batch {b} ms/face" for b in BATCHES]],
                [[k, *[v.get(b, float("nan")) for b in BATCHES]] for k, v in ms.items()])
    best = {k: min(v.values()) for k, v in ms.items()}
    speedup = best["int8-xnnpack"] / best["float32"]
    print(f"\nfloat32 vs shipped int8 (best batch each): {speedup:.2f}x less CPU per face")
    ok = agreements["float32 vs torch-reference"]["max_abs_diff"] <= 1e-4
    write_json(args.json, {"n_crops": len(x), "agreements": agreements,
                           "cpu_ms_per_face": {k: {str(b): v for b, v in d.items()}
                                               for k, d in ms.items()},
                           "speedup_vs_int8": speedup, "reference_within_1e-4": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
