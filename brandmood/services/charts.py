"""Plotly figures with one color and one order per emotion (Okabe-Ito, color-blind safe).

Every bar carries its label and share as text, so no reading depends on color alone;
``uncertain`` is always gray and always last.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from analytics.aggregate import shares
from brandmood.core.types import LABELS, UNCERTAIN
from brandmood.services.dashboard import EngagementRow, GroupCount
from db.queries.dashboard import ENGAGEMENT_METRICS

EMOTION_COLORS: dict[str, str] = {
    "neutral": "#56B4E9",   # sky blue
    "happy": "#E69F00",     # orange
    "sad": "#0072B2",       # blue
    "surprise": "#F0E442",  # yellow
    "fear": "#CC79A7",      # reddish purple
    "anger": "#D55E00",     # vermillion
    "disgust": "#009E73",   # bluish green
    "contempt": "#000000",  # black
    UNCERTAIN: "#A0A0A0",   # gray
}
"""Okabe-Ito palette (Wong 2011), one color per label; gray for uncertain."""

TEXT_COLORS = {"sad": "white", "contempt": "white", "anger": "white", "disgust": "white"}


def _layout(fig: go.Figure, title: str, *, height: int = 360) -> go.Figure:
    fig.update_layout(title=title, height=height, barmode="stack", legend_traceorder="normal",
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, template="plotly_white",
                      legend={"orientation": "h", "y": -0.15})
    return fig


def grouped_counts(rows: Sequence[GroupCount]) -> dict[str, dict[str, int]]:
    """``key → label → count`` from flat query rows."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r.key, {})[r.label] = out.get(r.key, {}).get(r.label, 0) + r.count
    return out


def share_bars(rows: Sequence[GroupCount], names: Mapping[str, str], *,
               title: str = "Emotion share per group") -> go.Figure:
    """Horizontal 100 % stacked bars, one per group; counts and intervals on hover.

    Args:
        rows: ``(group key, label, count)`` rows.
        names: group key → display name.
    """
    groups = grouped_counts(rows)
    keys = sorted(groups, key=lambda k: names.get(k, k))
    ylabels = [f"{names.get(k, k)} (n={sum(groups[k].values())})" for k in keys]
    per_group = {k: {s.label: s for s in shares(groups[k])} for k in keys}
    fig = go.Figure()
    for label in LABELS:
        xs = [per_group[k][label].share * 100 for k in keys]
        if not any(xs):
            continue
        custom = [[per_group[k][label].count, per_group[k][label].low * 100,
                   per_group[k][label].high * 100] for k in keys]
        fig.add_bar(
            y=ylabels, x=xs, orientation="h", name=label,
            marker_color=EMOTION_COLORS[label], customdata=custom,
            text=[f"{label} {x:.0f}%" if x >= 6 else "" for x in xs], textposition="inside",
            insidetextfont={"color": TEXT_COLORS.get(label, "black")},
            hovertemplate=(f"<b>{label}</b> %{{x:.1f}}%<br>%{{customdata[0]}} faces<br>"
                           "95% CI %{customdata[1]:.1f}–%{customdata[2]:.1f}%<extra>%{y}</extra>"))
    fig.update_xaxes(range=[0, 100], ticksuffix="%", title="share of faces")
    return _layout(fig, title, height=max(220, 90 + 50 * len(keys)))


def trend_chart(rows: Sequence[GroupCount], *, title: str = "Emotion share over time"
                ) -> go.Figure:
    """100 % stacked columns per period (keys are ``YYYY-MM-DD`` period starts)."""
    groups = grouped_counts(rows)
    keys = sorted(groups)
    fig = go.Figure()
    for label in LABELS:
        counts = [groups[k].get(label, 0) for k in keys]
        if not any(counts):
            continue
        totals = [sum(groups[k].values()) for k in keys]
        ys = [100 * c / t if t else 0 for c, t in zip(counts, totals, strict=True)]
        fig.add_bar(x=keys, y=ys, name=label, marker_color=EMOTION_COLORS[label],
                    customdata=counts, text=[label if y >= 12 else "" for y in ys],
                    textposition="inside",
                    insidetextfont={"color": TEXT_COLORS.get(label, "black")},
                    hovertemplate=(f"<b>{label}</b> %{{y:.1f}}%<br>%{{customdata}} faces"
                                   "<extra>%{x}</extra>"))
    fig.update_yaxes(range=[0, 100], ticksuffix="%", title="share of faces")
    fig.update_xaxes(type="category", title="period start")
    return _layout(fig, title)


def engagement_chart(rows: Sequence[EngagementRow], metric: str) -> go.Figure:
    """Mean of ``metric`` per dominant emotion with 95 % intervals; median and n as text.

    Raises:
        ValueError: for an unknown metric.
    """
    if metric not in ENGAGEMENT_METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {ENGAGEMENT_METRICS}")
    fig = go.Figure()
    for r in rows:
        s = r.metrics[metric]
        if s.n == 0:
            continue
        err = None if math.isnan(s.low) else [s.high - s.mean]
        err_minus = None if math.isnan(s.low) else [s.mean - s.low]
        fig.add_bar(x=[r.label], y=[s.mean], name=r.label, marker_color=EMOTION_COLORS[r.label],
                    error_y={"type": "data", "array": err, "arrayminus": err_minus,
                             "visible": err is not None},
                    text=[f"{r.label}: mean {s.mean:,.0f} · median {s.median:,.0f} · n={s.n}"],
                    textposition="outside", showlegend=False,
                    hovertemplate=(f"<b>{r.label}</b><br>mean %{{y:,.1f}}<br>median "
                                   f"{s.median:,.1f}<br>{s.n} assets<extra></extra>"))
    fig.update_yaxes(title=f"{metric} per asset (mean, 95% CI)")
    fig.update_layout(barmode="group")
    return _layout(fig, f"{metric.capitalize()} by the asset's dominant emotion").update_layout(
        barmode="group")


def single_share_bar(counts: Mapping[str, int], *, title: str = "Emotion share") -> go.Figure:
    """One 100 % stacked bar of a selection's label counts."""
    rows = [GroupCount("all", k, v) for k, v in counts.items()]
    return share_bars(rows, {"all": "all faces"}, title=title)
