"""The Agreement page's view: how much reviewers agree (Krippendorff's alpha overall and per
emotion, pairwise agreement), the reviewer-vs-reviewer confusion matrix next to the model's
against the consensus, and the disputed faces."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from analytics.agreement import Agreement
from brandmood.core.access import Permission
from brandmood.core.types import EMOTIONS, ReviewState
from brandmood.services.agreement import agreement_report
from brandmood.ui import auth
from db.queries.selection import DashboardFilters

HOW = ("Each face needs k reviews (Settings); its label is the one more than half of its "
       "reviews give. Faces without such a majority are **disputed**: they count on the "
       "model's label and never train a model. Krippendorff's alpha is 1 for perfect "
       "agreement and 0 for agreement no better than chance; per emotion it is that emotion "
       "against all others. Reviewers never see each other's labels while reviewing.")


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def confusion_figure(m: np.ndarray, *, title: str, rows: str, cols: str) -> go.Figure:
    """A heatmap of a confusion matrix in :data:`EMOTIONS` order (counts in the cells)."""
    names = [e.value for e in EMOTIONS]
    fig = go.Figure(go.Heatmap(z=m.tolist(), x=names, y=names, colorscale="Blues",
                               text=m.tolist(), texttemplate="%{text}", showscale=False))
    fig.update_layout(title=title, xaxis_title=cols, yaxis_title=rows, height=420,
                      yaxis_autorange="reversed", margin=dict(l=10, r=10, t=50, b=10))
    return fig


def _summary(a: Agreement, k: int) -> None:
    c = st.columns(5)
    c[0].metric("Reviews per face (k)", k)
    c[1].metric("Faces reviewed", a.faces)
    c[2].metric("Agreed", a.states[ReviewState.AGREED])
    c[3].metric("Disputed", a.states[ReviewState.DISPUTED])
    c[4].metric("Waiting for reviews", a.states[ReviewState.PENDING])
    c = st.columns(3)
    c[0].metric("Krippendorff's alpha", _num(a.alpha))
    c[1].metric("Pairs of reviews alike", _num(a.percent_agreement, "{:.0%}"))
    c[2].metric("Model vs consensus", _num(a.model.accuracy, "{:.0%}"),
                help=f"The model's top emotion against the consensus, on "
                     f"{a.model.n} agreed faces.")


def agreement_view(filters: DashboardFilters) -> None:
    """The agreement figures of the reviews of the selection's brand (or every brand the
    caller may review in)."""
    with auth.session(Permission.REVIEW) as s:
        report = agreement_report(session=s, scope=filters.scope, brand_id=filters.brand_id)
    a = report.figures
    st.caption(HOW)
    if not a.faces:
        st.info("No reviews yet: label faces on the **Review** page.")
        return
    _summary(a, report.k)
    if not a.multiply_reviewed:
        st.info("No face has two reviews yet, so agreement cannot be measured: set reviews "
                "per face to 2 or more in **Settings** and review with a second person.")
    st.subheader("Agreement per emotion")
    st.dataframe([{"emotion": e.value, "alpha (one vs rest)": v}
                  for e, v in a.alpha_per_class.items()], hide_index=True, key="ag_classes")
    st.subheader("Pairs of reviewers")
    st.dataframe([{"reviewer": p.a, "other reviewer": p.b, "faces both labelled": p.n,
                   "agreement %": round(100 * p.agreement, 1), "Cohen's kappa": p.kappa}
                  for p in a.pairs], hide_index=True, key="ag_pairs")
    left, right = st.columns(2)
    left.plotly_chart(confusion_figure(a.reviewer_confusion, title="Reviewer vs reviewer",
                                       rows="one reviewer", cols="another reviewer"),
                      key="ag_reviewers")
    right.plotly_chart(confusion_figure(a.model.confusion, title="Model vs consensus",
                                        rows="consensus", cols="model's top emotion"),
                       key="ag_model")
    st.caption("Left: every two reviews of one face by different people (symmetric; the "
               "diagonal is agreement), so labels people confuse show off the diagonal. "
               "Right: the model on the faces with a consensus.")
