"""How far a model's numbers can be trusted: cross-validated accuracy, calibration (ECE and a
reliability diagram) and the accuracy of the faces it marks certain.

Reads what a registered model ships (:mod:`analytics.calibration_data`, written by
``benchmarks/model_cv.py``) or what a fine-tuned version recorded (its ``calibration``
metrics); draws reliability diagrams from :class:`analytics.calibration.Reliability`-shaped
dicts (``edges``, ``counts``, ``confidence``, ``accuracy``, ``ece``), so the model page and
the benchmark draw the same figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import plotly.graph_objects as go

from analytics.calibration_data import CALIBRATION
from analytics.uncertainty import rule_for

SET_NAMES = {"jaffe": "JAFFE photos", "ckplus": "CK+48 crops"}
"""How the dev sets are named for people."""
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")


@dataclass(frozen=True)
class ModelQuality:
    """A registered model's shipped, cross-validated figures (per dev set).

    Attributes:
        model: the model's name.
        calibration: the map's tag (``T1.42``…).
        min_confidence: the uncertainty threshold on calibrated probabilities.
        target: the accuracy the threshold was chosen for.
        accuracy, ece_before, ece_after, certain_accuracy, uncertain_share:
            ``{set: value}`` on unseen people (cross-validated over people).
        reliability: ``{"<set> before"/"<set> after": bins}`` out-of-fold.
        method: one line on how the figures were obtained.
    """

    model: str
    calibration: str
    min_confidence: float
    target: float
    accuracy: dict[str, float]
    ece_before: dict[str, float]
    ece_after: dict[str, float]
    certain_accuracy: dict[str, float]
    uncertain_share: dict[str, float]
    reliability: dict[str, dict]
    method: str


def model_quality(model: str) -> ModelQuality | None:
    """The shipped figures of a registered model (None: it ships no calibration)."""
    from analytics.calibration import Calibration

    entry = CALIBRATION.get(model)
    if entry is None:
        return None
    cv = entry.get("cv", {})
    curves = {f"{SET_NAMES.get(s, s)} {when}": bins
              for s, pair in entry.get("reliability", {}).items() for when, bins in pair.items()}
    return ModelQuality(model, Calibration.from_dict(entry["calibration"]).tag,
                        rule_for(model).min_confidence, float(entry.get("target_accuracy", 0)),
                        dict(cv.get("accuracy", {})), dict(cv.get("ece_before", {})),
                        dict(cv.get("ece_after", {})),
                        dict(cv.get("certain", {}).get("accuracy", {})),
                        dict(cv.get("certain", {}).get("uncertain_share", {})), curves,
                        str(cv.get("method", "")))


def uncertain_note(versions: list[str]) -> str | None:
    """One sentence on what "uncertain" means for the models behind a page's numbers
    (``name@version`` labels) and how often the other faces were right on unseen people;
    None where no model in ``versions`` ships cross-validated figures."""
    parts = []
    for name in dict.fromkeys(v.split("@", 1)[0] for v in versions):
        q = model_quality(name)
        if q is None or not q.certain_accuracy:
            continue
        right = " and ".join(f"{v:.0%} ({SET_NAMES.get(s, s)})"
                             for s, v in q.certain_accuracy.items())
        parts.append(f"{name}: uncertain = calibrated top probability under "
                     f"{q.min_confidence:.2f}; on people it was never tuned on, the faces it "
                     f"marked certain were right {right}")
    return "; ".join(parts) + "." if parts else None


def quality_rows(q: ModelQuality) -> list[dict[str, object]]:
    """One table row per dev set (rounded for display)."""
    rows = []
    for s in q.accuracy:
        rows.append({"dev set (unseen people)": SET_NAMES.get(s, s),
                     "accuracy": round(q.accuracy[s], 3),
                     "ECE before": round(q.ece_before.get(s, float("nan")), 3),
                     "ECE after": round(q.ece_after.get(s, float("nan")), 3),
                     "certain faces right": round(q.certain_accuracy.get(s, float("nan")), 3),
                     "uncertain share": round(q.uncertain_share.get(s, float("nan")), 3)})
    return rows


def reliability_figure(curves: Mapping[str, Mapping], *,
                       title: str = "Reliability (out-of-fold)") -> go.Figure:
    """A reliability diagram: per curve, accuracy against mean confidence of each non-empty
    bin (marker size ~ faces in it), with the diagonal of perfect calibration.

    Args:
        curves: ``{name: {"confidence": [...], "accuracy": [...], "counts": [...],
            "ece": float}}`` (:meth:`analytics.calibration.Reliability.to_dict`).
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line={"color": "#A0A0A0", "dash": "dash"}))
    for i, (name, c) in enumerate(curves.items()):
        pts = [(x, y, n) for x, y, n in zip(c["confidence"], c["accuracy"], c["counts"],
                                           strict=True) if n and x is not None and y is not None]
        if not pts:
            continue
        xs, ys, ns = zip(*pts, strict=True)
        total = sum(ns)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name=f"{name} (ECE {c['ece']:.3f})",
            marker={"size": [6 + 30 * n / total for n in ns], "color": COLORS[i % len(COLORS)]},
            line={"color": COLORS[i % len(COLORS)],
                  "dash": "dot" if "before" in name else "solid"},
            customdata=ns, hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}"
                                         "<br>%{customdata} faces<extra></extra>"))
    fig.update_layout(title=title, height=420, template="plotly_white",
                      xaxis={"title": "mean top probability in bin", "range": [0, 1]},
                      yaxis={"title": "share right", "range": [0, 1.02]},
                      legend={"orientation": "h", "y": -0.25},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


__all__ = ["ModelQuality", "model_quality", "quality_rows", "reliability_figure",
           "uncertain_note"]
