"""The Fairness page's view: per skin-tone group, what the model says and how often it errs,
with 95 % intervals, and the groups whose negative-emotion rates stand out."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from analytics.fairness import NEGATIVE_EMOTIONS, Disparity, GroupStats, Rate
from brandmood.core.types import LABELS
from brandmood.services import fairness as sf
from brandmood.services.charts import EMOTION_COLORS
from brandmood.ui import data
from brandmood.ui.views import NO_FACES
from db.queries.dashboard import DataVersion
from db.queries.selection import DashboardFilters

NO_ESTIMATE = ("No counted face has a skin-tone estimate yet. New analyses compute it; for "
               "faces analyzed before, run `brandmood fairness backfill` in a terminal.")


@st.cache_data(show_spinner=False, max_entries=128)
def _report(key: str, ver: DataVersion, filters: DashboardFilters) -> sf.FairnessReport:
    with data.workspace().session() as s:
        return sf.fairness_report(session=s, filters=filters)


def report(filters: DashboardFilters) -> sf.FairnessReport:
    """The selection's fairness numbers, cached by database, data version and filters."""
    return _report(data.db_key(), data.version(), filters)


def _pct(x: float) -> float:
    return round(100.0 * x, 1)


def _interval(r: Rate | None) -> str:
    return "" if r is None else f"{_pct(r.low)}–{_pct(r.high)}"


def group_rows(groups: list[GroupStats]) -> list[dict[str, object]]:
    """One table row per group: faces, mean confidence, % per label, reviewed, accuracy and
    anger false-positive rate (in %, with their 95 % Wilson intervals)."""
    rows = []
    for g in groups:
        row: dict[str, object] = {
            "skin-tone group": g.group, "faces": g.faces,
            "mean confidence": None if g.mean_confidence is None else round(g.mean_confidence,
                                                                             3)}
        row.update({f"{s.label} %": _pct(s.share) for s in g.shares})
        row.update({
            "reviewed": g.reviewed,
            "accuracy %": None if g.accuracy is None else _pct(g.accuracy.rate),
            "accuracy 95% CI": _interval(g.accuracy),
            "anger FP rate %": None if g.anger_fpr is None else _pct(g.anger_fpr.rate),
            "anger FP 95% CI": _interval(g.anger_fpr)})
        rows.append(row)
    return rows


def flag_text(d: Disparity) -> str:
    """One line per flagged group and measure."""
    diff = d.difference
    word = "higher" if d.higher else "lower"
    return (f"**{d.group}**: {d.measure} {_pct(diff.a.rate)}% ({diff.a.count} of "
            f"{diff.a.total}) against {_pct(diff.b.rate)}% in the other groups: {word} by "
            f"{abs(_pct(diff.diff))} points (95% interval of the difference "
            f"{_pct(diff.low):+.1f} to {_pct(diff.high):+.1f}).")


def negative_chart(groups: list[GroupStats]) -> go.Figure:
    """Share of each negative emotion per group, with 95 % Wilson intervals."""
    fig = go.Figure()
    for e in NEGATIVE_EMOTIONS:
        shares = [g.share(e.value) for g in groups]
        fig.add_trace(go.Bar(
            name=e.value, x=[g.group for g in groups], y=[_pct(s.share) for s in shares],
            marker_color=EMOTION_COLORS.get(e.value),
            error_y={"type": "data", "symmetric": False,
                     "array": [_pct(s.high - s.share) for s in shares],
                     "arrayminus": [_pct(s.share - s.low) for s in shares]},
            customdata=[[s.count, s.total] for s in shares],
            hovertemplate="%{x}: %{y:.1f}% (%{customdata[0]} of %{customdata[1]})"))
    fig.update_layout(barmode="group", title="Negative emotions per skin-tone group",
                      yaxis_title="% of the group's counted faces", height=420,
                      legend_title_text="")
    return fig


def fairness_view(filters: DashboardFilters) -> None:
    """The page below its title and caption."""
    st.info(sf.WHAT_IT_IS, icon=":material/info:")
    rep = report(filters)
    if rep.faces == 0:
        st.info(NO_FACES)
        return
    if rep.estimated == 0:
        st.info(NO_ESTIMATE)
    st.subheader("Per skin-tone group")
    st.dataframe(group_rows(rep.groups), hide_index=True, key="fair_table")
    st.caption(f"{rep.faces:,} counted faces, {rep.estimated:,} with an estimate; labels "
               f"are the model's ({', '.join(LABELS)}), never the reviewed ones, since the "
               "check is about the model. Accuracy and the anger false-positive rate use "
               "the faces whose reviewers agree (top emotion against their consensus "
               "label; disputed faces left out). "
               "Intervals are 95% Wilson intervals.")
    if rep.estimated:
        st.plotly_chart(negative_chart(rep.groups), key="fair_chart")
    st.subheader("Flags")
    if rep.flags:
        for d in rep.flags:
            st.warning(flag_text(d), icon=":material/flag:")
    elif rep.estimated:
        st.success("No group's negative-emotion rate (or anger false-positive rate) differs "
                   "from the other groups' beyond the 95% interval.")
    st.caption(sf.HOW_FLAGGED)
    st.caption("Read more: docs/responsible_use.md (what the estimate is and is not).")
