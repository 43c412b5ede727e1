"""What ``benchmarks/model_cv.py`` writes besides its JSON: the shipped calibration data and
reliability diagrams."""

from __future__ import annotations

import pprint
import textwrap
from pathlib import Path

from analytics.calibration import reliability_of
from benchmarks.peer_common import ROOT

DATA_FILE = ROOT / "analytics" / "calibration_data.py"
HEADER = '''"""Calibration and uncertainty thresholds shipped with the registered models (data).

Written by ``python -m benchmarks.model_cv --write-calibration`` from the two dev sets
(JAFFE photos, CK+48 crops): per model, the calibration map fitted on every dev face (the
two sets weighted equally) and the minimum confidence at which the faces marked certain
reached the target accuracy; ``cv`` holds the subject-grouped cross-validation figures of
the whole procedure (margin, weights, map and threshold fitted on the training people of
each fold, scored on the others), ``reliability`` the out-of-fold reliability bins of its
last repeat (before / after calibration). docs/models.md explains the numbers. A model
without an entry is not calibrated and uses :data:`analytics.uncertainty.FALLBACK_RULE`.
"""

from __future__ import annotations

'''


def registered(results: dict) -> list[str]:
    """The candidates that are registered models (their figures are shipped)."""
    from analytics.classifiers.registry import registered_names

    names = set(registered_names())
    return [n for n in results if n in names]


def entry(name: str, r: dict, repeats: int, target: float) -> dict:
    """The shipped record of one model."""
    kind = r["calibration_kind"]
    sets = r["sets"]
    oof = r["_oof_last"]
    return {
        "calibration": _rounded(r["final"]["calibration"]),
        "min_confidence": r["final"]["min_confidence"],
        "target_accuracy": target,
        "margin": r["final"]["margin"],
        "weights": r["final"]["weights"],
        "cv": {
            "method": f"leave one JAFFE person out × 5 subject-grouped CK+ folds, "
                      f"{repeats} repeats; every choice made on the training people",
            "accuracy": {s: round(m["accuracy"], 4) for s, m in sets.items()},
            "macro_f1": {s: round(m["macro_f1"], 4) for s, m in sets.items()},
            "ece_before": {s: round(m["ece_raw"], 4) for s, m in sets.items()},
            "ece_after": {s: round(m[f"ece_{kind}"], 4) for s, m in sets.items()},
            "certain": {"accuracy": {s: round(m[f"certain_accuracy_{kind}"], 4)
                                     for s, m in sets.items()},
                        "uncertain_share": {s: round(m[f"uncertain_share_{kind}"], 4)
                                            for s, m in sets.items()}}},
        "reliability": {s: {"before": _bins(o["raw"], name, s, r),
                            "after": _bins(o[kind], name, s, r)} for s, o in oof.items()},
    }


def _rounded(cal: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else [round(x, 6) for x in v]
                if isinstance(v, list) else v) for k, v in cal.items()}


def _bins(probs, name: str, set_name: str, r: dict) -> dict:
    labels = r["_labels"][set_name]
    d = reliability_of(probs, labels).to_dict()
    d["confidence"] = [None if v is None else round(v, 4) for v in d["confidence"]]
    d["accuracy"] = [None if v is None else round(v, 4) for v in d["accuracy"]]
    d["edges"] = [round(v, 4) for v in d["edges"]]
    d["ece"] = round(d["ece"], 4)
    return d


def write_calibration(results: dict, repeats: int, target: float,
                      path: Path = DATA_FILE) -> Path:
    """Write :mod:`analytics.calibration_data` for every registered candidate."""
    data = {n: entry(n, results[n], repeats, target) for n in registered(results)}
    text = HEADER + "CALIBRATION: dict[str, dict] = {}\n"
    for name, record in data.items():
        body = pprint.pformat(record, width=92, sort_dicts=True, compact=True)
        text += f"\nCALIBRATION[{name!r}] = (\n" + textwrap.indent(body, "    ") + ")\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({', '.join(data)})")
    return path


def write_plot(path: Path, results: dict, names: list[str]) -> Path:
    """Reliability diagrams (out-of-fold, before / after calibration) of ``names`` as HTML."""
    from brandmood.services.model_quality import SET_NAMES, reliability_figure

    parts = []
    for name in names:
        r = results[name]
        kind = r["calibration_kind"]
        curves = {f"{SET_NAMES.get(s, s)} {when}": _bins(o[key], name, s, r)
                  for s, o in r["_oof_last"].items()
                  for when, key in (("before", "raw"), ("after", kind))}
        fig = reliability_figure(curves, title=f"{name}: reliability on unseen people "
                                               f"({kind} scaling)")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=not parts))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("<html><body>" + "\n".join(parts) + "</body></html>", encoding="utf-8")
    print(f"wrote {path}")
    return path
