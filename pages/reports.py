"""Reports: CSV (faces, assets), Excel and a PDF brand report of the current selection."""

import streamlit as st

from brandmood.ui import report_views, views

st.title("Reports")
filters = views.require_filters()
views.model_caption(filters)
if filters is not None:
    report_views.reports_view(filters)
    st.caption("From a terminal: `brandmood export --brand NAME --format pdf --out report.pdf`.")
