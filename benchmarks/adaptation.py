"""Adapting the emotion model to labeled data, against the base model and a HOG baseline.

    python -m benchmarks.adaptation --train FOLDER --test FOLDER [--crops] --json OUT
    python -m benchmarks.adaptation --jaffe-split [--eval ../shared/eval] --json OUT
    python -m benchmarks.adaptation --ckplus [--eval ../shared/eval] [--repeats R] --json OUT
    python -m benchmarks.adaptation --cv FOLDER [--crops] [--folds K] [--repeats R] --json OUT

``--train/--test``: fine-tune on one labeled folder (``label/*.jpg``), evaluate base and
adapted model (and HOG + logistic regression trained on the same folder) on the other.
``--crops``: the images are face crops (used whole) instead of photos (MTCNN finds the face).
``--jaffe-split``: the labels of three of the five JAFFE people (KA, KL, KM) teach, the other
two (KR, MK) are the test; also averaged over all 10 ways to pick three people.
``--ckplus``: CK+ 48×48 crops split by subject (seeded), to show contempt becomes predictable;
plus (``--repeats`` > 0) the grouped cross-validation below on all of them, key ``grouped_cv``.
``--cv``: repeated grouped K-fold on one folder (``--folds`` K, default 3; ``--repeats`` R,
default 5, each with its own seed): every face is tested once per repeat, base, adapted and
HOG on the same K × R splits; the top-level keys are then means over the splits.
``--features``: the adapted head's features (``auto``, the default: chosen by grouped
cross-validation on the training people among the face-api sets; or one feature set, e.g.
``fer+facex+hog``, the earlier default on fer's crops).

OUT keys: base_accuracy, adapted_accuracy, base_macro_f1, adapted_macro_f1,
adapted_per_class_recall, hog_baseline_accuracy (plus details: hog_baseline_macro_f1, ...;
``grouped_cv``: mean and sd per metric, contempt recall, adapted-vs-HOG paired wins/ties/losses
per split and faces only one of the two got right).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from analytics.classifiers.adapted import FEATURE_SETS, FrozenBase
from analytics.classifiers.registry import weight_paths
from analytics.finetune import (
    AUTO,
    DEFAULT_FEATURES,
    FinetuneConfig,
    FinetuneResult,
    LabeledFaces,
    Scores,
    adapt,
    grouped_split,
    load_folder_faces,
    views,
)
from analytics.hog_baseline import HogBaseline
from benchmarks.peer_common import EVAL, write_json
from brandmood.core.types import EMOTIONS, Emotion


def networks_for(cfg: FinetuneConfig) -> FrozenBase:
    """The frozen networks every candidate feature set of ``cfg`` reads (loaded once)."""
    blocks = dict.fromkeys(b for fs in cfg.candidates for b in fs.split("+"))
    return FrozenBase.for_features("+".join(blocks), weight_paths)


def compare(train: LabeledFaces, test: LabeledFaces, cfg: FinetuneConfig) -> dict:
    """Base vs adapted vs HOG baseline on ``test`` after learning from ``train``."""
    t0 = time.perf_counter()
    networks = networks_for(cfg)
    r: FinetuneResult = adapt(train, test, cfg, networks=networks)
    seconds = time.perf_counter() - t0
    hog_train = views(train, cfg, train=False)[0]
    hog = Scores.of(test.labels, HogBaseline.fit(hog_train, train.labels, seed=cfg.seed)
                    .predict_proba(views(test, cfg, train=False)[0]))
    return {"base_accuracy": r.base.accuracy, "adapted_accuracy": r.adapted.accuracy,
            "base_macro_f1": r.base.macro_f1, "adapted_macro_f1": r.adapted.macro_f1,
            "adapted_per_class_recall": r.adapted.recall_dict(),
            "base_per_class_recall": r.base.recall_dict(),
            "hog_baseline_accuracy": hog.accuracy, "hog_baseline_macro_f1": hog.macro_f1,
            "hog_baseline_per_class_recall": hog.recall_dict(),
            "features": r.head.feature_set, "base_model": r.base_model,
            "calibration": r.calibration_metrics,
            "labels": [e.value for e in r.labels],
            "left_out_labels": {e.value: n for e, n in r.left_out.items()},
            "n_train": r.n_train, "n_test": r.n_test, "l2": r.l2,
            "adapt_seconds": seconds, "improved": r.improved,
            "_correct": {"base": r.base.correct, "adapted": r.adapted.correct,
                         "hog": hog.correct}}


METRICS = ("base_accuracy", "adapted_accuracy", "hog_baseline_accuracy", "base_macro_f1",
           "adapted_macro_f1", "hog_baseline_macro_f1")


def grouped_cv(faces: LabeledFaces, cfg: FinetuneConfig, folds: int, repeats: int) -> dict:
    """Base, adapted and HOG on the same ``folds`` × ``repeats`` subject-grouped splits."""
    from sklearn.model_selection import StratifiedGroupKFold

    rows = []
    for rep in range(repeats):
        cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=cfg.seed + rep)
        for tr, te in cv.split(np.zeros(len(faces)), faces.labels, faces.groups):
            rows.append(compare(faces.subset(np.sort(tr)), faces.subset(np.sort(te)), cfg))
    out = {"folds": folds, "repeats": repeats, "n_splits": len(rows),
           "mean": {k: float(np.mean([r[k] for r in rows])) for k in METRICS},
           "sd": {k: float(np.std([r[k] for r in rows])) for k in METRICS}}
    for model in ("adapted", "hog_baseline", "base"):
        recall = _mean_recall([r[f"{model}_per_class_recall"] for r in rows])
        out[f"{model}_mean_per_class_recall"] = recall
        out["mean"][f"{model}_contempt_recall"] = recall["contempt"]
    a = np.array([r["adapted_accuracy"] for r in rows])
    h = np.array([r["hog_baseline_accuracy"] for r in rows])
    right_a = np.concatenate([r["_correct"]["adapted"] for r in rows])
    right_h = np.concatenate([r["_correct"]["hog"] for r in rows])
    out["adapted_vs_hog"] = {
        "split_wins": int((a > h).sum()), "split_ties": int((a == h).sum()),
        "split_losses": int((a < h).sum()),
        "faces_only_adapted_right": int((right_a & ~right_h).sum()),
        "faces_only_hog_right": int((right_h & ~right_a).sum()),
        "faces_tested": len(right_a)}
    out["splits"] = [{k: r[k] for k in METRICS} for r in rows]
    _print_cv(out)
    return out


def _mean_recall(recalls: list[dict]) -> dict[str, float | None]:
    """Mean recall per label over the splits that test it (None: never tested)."""
    out = {}
    for e in EMOTIONS:
        vals = [r[e.value] for r in recalls if r.get(e.value) is not None]
        out[e.value] = float(np.mean(vals)) if vals else None
    return out


def _print_cv(cv: dict) -> None:
    print(f"\ngrouped {cv['folds']}-fold x {cv['repeats']} repeats ({cv['n_splits']} splits): "
          "mean (sd)")
    m, sd = cv["mean"], cv["sd"]
    for model in ("base", "adapted", "hog_baseline"):
        rec = m.get(f"{model}_contempt_recall")
        print(f"{model:13s} accuracy {m[model + '_accuracy']:.3f} ({sd[model + '_accuracy']:.3f})"
              f"  macro-F1 {m[model + '_macro_f1']:.3f}"
              + (f"  contempt recall {rec:.2f}" if rec is not None else ""))
    v = cv["adapted_vs_hog"]
    print(f"adapted vs HOG per split: {v['split_wins']} wins, {v['split_ties']} ties, "
          f"{v['split_losses']} losses; faces only adapted right {v['faces_only_adapted_right']},"
          f" only HOG right {v['faces_only_hog_right']} (of {v['faces_tested']})")


def _public(out: dict) -> dict:
    return {k: v for k, v in out.items() if not k.startswith("_")}


def _print(title: str, out: dict) -> None:
    print(f"\n{title}  (train {out['n_train']}, test {out['n_test']})")
    print(f"{'model':24s} {'accuracy':>9s} {'macro-F1':>9s}")
    print(f"{'base (' + out['base_model'] + ')':24s} {out['base_accuracy']:9.3f} "
          f"{out['base_macro_f1']:9.3f}")
    print(f"{'adapted':24s} {out['adapted_accuracy']:9.3f} {out['adapted_macro_f1']:9.3f}")
    print(f"{'HOG + logistic regr.':24s} {out['hog_baseline_accuracy']:9.3f} "
          f"{out['hog_baseline_macro_f1']:9.3f}")
    rec = {k: v for k, v in out["adapted_per_class_recall"].items() if v is not None}
    print("adapted recall: " + ", ".join(f"{k} {v:.2f}" for k, v in rec.items()))
    cal = out["calibration"]
    print(f"features {out['features']}, l2 {out['l2']}; calibration {cal['tag']}: held-out "
          f"ECE {cal['ece_before']:.3f} -> {cal['ece_after']:.3f}")


def jaffe_split(folder: Path, cfg: FinetuneConfig) -> dict:
    faces, failed = load_folder_faces(folder, cfg=cfg)
    main = compare(*_by_people(faces, ("KA", "KL", "KM")), cfg)
    _print("JAFFE: learn from KA, KL, KM; test on KR, MK", main)
    norm = person_normalised(*_by_people(faces, ("KA", "KL", "KM")), cfg)
    print(f"experiment, stock face-api head on person-normalised features: accuracy "
          f"{norm['accuracy']:.3f}, macro-F1 {norm['macro_f1']:.3f}")
    main["person_normalised_stock"] = norm
    people = sorted(set(faces.groups.tolist()))
    trios = list(itertools.combinations(people, 3))
    rows = [compare(*_by_people(faces, trio), cfg) for trio in trios]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
    mean["person_normalised_stock_accuracy"] = float(np.mean(
        [person_normalised(*_by_people(faces, t), cfg)["accuracy"] for t in trios]))
    print("\nJAFFE, mean of the 10 ways to pick 3 teaching people: "
          + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    return {**_public(main), "all_splits_mean": mean, "n_failed": len(failed)}


def person_normalised(train: LabeledFaces, test: LabeledFaces, cfg: FinetuneConfig) -> dict:
    """An experiment, not a product path: the *stock* face-api head on features from which
    each test person's own mean (over their faces, labels unused) is taken out and the
    teaching people's mean put in. It needs to know who is who at inference time."""
    import torch

    from analytics.classifiers.base import to_emotion_order
    from analytics.classifiers.faceapi import FACEAPI_LABELS

    one = FinetuneConfig(features="faceapi")
    net = networks_for(one).faceapi
    f_tr = net.features(views(train, one, train=False)[0])
    f_te = net.features(views(test, one, train=False)[0])
    for g in set(test.groups.tolist()):
        rows = test.groups == g
        f_te[rows] = f_te[rows] - f_te[rows].mean(axis=0) + f_tr.mean(axis=0)
    with torch.inference_mode():
        logits = net.model.fc(torch.as_tensor(f_te))
    probs = to_emotion_order(torch.softmax(logits, dim=1).numpy(), FACEAPI_LABELS)
    sc = Scores.of(test.labels, probs)
    return {"accuracy": sc.accuracy, "macro_f1": sc.macro_f1}


def _by_people(faces: LabeledFaces, people: tuple[str, ...]) -> tuple[LabeledFaces,
                                                                     LabeledFaces]:
    inside = np.isin(faces.groups, people)
    return faces.subset(np.flatnonzero(inside)), faces.subset(np.flatnonzero(~inside))


def ckplus(folder: Path, cfg: FinetuneConfig, folds: int, repeats: int) -> dict:
    faces, _ = load_folder_faces(folder, crops=True, cfg=cfg)
    tr, te = grouped_split(faces.labels, faces.groups, 0.34, cfg.seed)
    out = _public(compare(faces.subset(tr), faces.subset(te), cfg))
    _print("CK+ 48x48 crops, split by subject", out)
    out["n_contempt_test"] = int((faces.labels[te] == EMOTIONS.index(Emotion.CONTEMPT)).sum())
    if repeats > 0:
        out["grouped_cv"] = grouped_cv(faces, cfg, folds, repeats)
    return out


def cv_folder(folder: Path, crops: bool, cfg: FinetuneConfig, folds: int,
              repeats: int) -> dict:
    faces, failed = load_folder_faces(folder, crops=crops, cfg=cfg)
    cv = grouped_cv(faces, cfg, folds, max(repeats, 1))
    return {**cv["mean"], "adapted_per_class_recall": cv["adapted_mean_per_class_recall"],
            "grouped_cv": cv,
            "n_failed": len(failed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--crops", action="store_true", help="images are face crops")
    parser.add_argument("--jaffe-split", action="store_true")
    parser.add_argument("--ckplus", action="store_true")
    parser.add_argument("--cv", type=Path, help="repeated grouped K-fold on this folder")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--features", choices=[AUTO, *sorted(FEATURE_SETS)],
                        default=DEFAULT_FEATURES,
                        help=f"the head's features (default {DEFAULT_FEATURES})")
    parser.add_argument("--eval", type=Path, default=EVAL)
    parser.add_argument("--min-per-class", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    cfg = FinetuneConfig(min_per_class=args.min_per_class, seed=args.seed,
                         features=args.features)
    if args.jaffe_split:
        out = jaffe_split(args.eval / "jaffe-dev", cfg)
    elif args.ckplus:
        out = ckplus(args.eval / "ckplus48-dev", cfg, args.folds, args.repeats)
    elif args.cv:
        out = cv_folder(args.cv, args.crops, cfg, args.folds, args.repeats)
    elif args.train and args.test:
        train, _ = load_folder_faces(args.train, crops=args.crops, cfg=cfg)
        test, _ = load_folder_faces(args.test, crops=args.crops, cfg=cfg)
        out = _public(compare(train, test, cfg))
        _print(f"{args.train} -> {args.test}", out)
    else:
        parser.error("give --train and --test, or --jaffe-split, --ckplus or --cv")
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
