"""Accuracy of the ``fer`` library's own pipeline on a labeled folder (the peer baseline).

    .venv/bin/python -m benchmarks.peer_accuracy --data ../shared/eval/jaffe-dev --json OUT
    .venv/bin/python -m benchmarks.peer_accuracy --data ../shared/eval/ckplus48-dev --crops

The folder holds ``label/*.ext`` images (label names as :meth:`Emotion.parse` reads them).
``FER(mtcnn=True).detect_emotions`` runs on every image inside the benchmark-only venv
(``benchmarks/peer_env.sh``); the largest face found is the image's answer and images without
a face count as wrong. ``--crops`` treats each image as one face crop (fer's
``face_rectangles`` set to the whole image). Metrics come from :mod:`analytics.metrics`, the
same functions ``benchmarks/accuracy.py`` uses, so the numbers compare directly.

OUT: ``{"data", "models": {"fer-library[tflite]": {"accuracy", "macro_f1", "face_found_rate",
"ece", "per_class_recall", "confusion", "n"}}}``; ECE (15 bins) is over the images where a
face was found, as in ``accuracy.py``; fer rounds its probabilities to 2 decimals.
``--keras`` adds fer with its full-precision Keras HDF5 model (``use_tflite=False``) as a
second row.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from analytics import metrics
from benchmarks.peer_common import (
    Labeled,
    PeerError,
    list_labeled,
    print_table,
    run_peer,
    write_json,
)
from brandmood.core.types import EMOTIONS, Emotion


def fer_answer(faces: list[dict]) -> tuple[int, float]:
    """(label index into EMOTIONS, top probability) of the largest face; (-1, nan) if none."""
    if not faces:
        return metrics.NO_PREDICTION, float("nan")
    face = max(faces, key=lambda f: f["box"][2] * f["box"][3])
    label, prob = max(face["emotions"].items(), key=lambda kv: kv[1])
    return EMOTIONS.index(Emotion.parse(label)), float(prob)


def score(items: list[Labeled], results: list[dict]) -> dict:
    """Metrics of fer's answers (``results`` from ``peer_fer.py images``, same order)."""
    if len(results) != len(items):
        raise ValueError(f"fer returned {len(results)} results for {len(items)} images")
    y_true = np.array([EMOTIONS.index(i.label) for i in items])
    answers = [fer_answer(r["faces"]) for r in results]
    y_pred = np.array([a[0] for a in answers])
    conf = np.array([a[1] for a in answers])
    found = y_pred != metrics.NO_PREDICTION
    recall = metrics.per_class_recall(y_true, y_pred)
    return {
        "n": len(items),
        "accuracy": metrics.accuracy(y_true, y_pred),
        "macro_f1": metrics.macro_f1(y_true, y_pred),
        "face_found_rate": float(found.mean()),
        "ece": metrics.expected_calibration_error(conf[found], (y_true == y_pred)[found]),
        "per_class_recall": {e.value: float(r) for e, r in zip(EMOTIONS, recall, strict=True)
                             if not np.isnan(r)},
        "confusion": metrics.confusion_matrix(y_true, y_pred).tolist(),
        "errors": sum(1 for r in results if r.get("error")),
    }


def evaluate(items: list[Labeled], *, crops: bool, keras: bool, timeout: float) -> dict:
    """Run fer over ``items`` in the peer venv and score it."""
    with tempfile.TemporaryDirectory(prefix="brandmood-peeracc-") as tmp:
        listing = Path(tmp) / "paths.txt"
        listing.write_text("\n".join(str(i.path.resolve()) for i in items) + "\n")
        args = ["images", "--list", str(listing), "--warmup", "0"]
        args += ["--crops"] if crops else []
        args += ["--keras"] if keras else []
        out = run_peer("peer_fer.py", args, timeout=timeout)
    result = score(items, out["results"])
    result["images_per_s"] = out["images_per_s"]
    return result


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of label/*.ext images")
    parser.add_argument("--json", type=Path, help="write results here")
    parser.add_argument("--crops", action="store_true", help="each image is one face crop")
    parser.add_argument("--keras", action="store_true",
                        help="also score fer with its Keras HDF5 model (use_tflite=False)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per fer run")
    args = parser.parse_args(argv)

    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent (see ../shared/eval/README.md)")
        return 0
    items = list_labeled(args.data)
    if not items:
        print(f"error: no label/*.ext images under {args.data}", file=sys.stderr)
        return 2
    variants = [("fer-library[tflite]", False)] + ([("fer-library[keras]", True)]
                                                   if args.keras else [])
    models = {}
    try:
        for name, keras in variants:
            models[name] = evaluate(items, crops=args.crops, keras=keras, timeout=args.timeout)
    except PeerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.data}: {len(items)} images{' (crops)' if args.crops else ''}")
    print_table(["model", "face_found", "accuracy", "macro_f1", "ece", "images/s"],
                [[n, m["face_found_rate"], m["accuracy"], m["macro_f1"], m["ece"],
                  m["images_per_s"]] for n, m in models.items()])
    for name, m in models.items():
        print(f"{name} per-class recall: " + ", ".join(
            f"{k} {v:.2f}" for k, v in m["per_class_recall"].items()))
    write_json(args.json, {"data": str(args.data), "crops": args.crops, "models": models})
    return 0


if __name__ == "__main__":
    sys.exit(main())
