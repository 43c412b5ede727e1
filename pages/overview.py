"""Overview: KPI cards with change against the previous period, emotion share and trend."""

import streamlit as st

from brandmood.services import charts
from brandmood.ui import data, views

st.title("Overview")
filters = views.require_filters()
views.model_caption(filters)
if filters is not None:
    kpis = data.kpis(filters)
    if kpis.assets == 0:
        st.info("This brand has no assets yet. Go to **Upload** to add images, videos or a zip.")
    views.kpi_cards(filters)
    if kpis.faces:
        st.plotly_chart(charts.single_share_bar(kpis.counts, title="Emotion share of all faces"),
                        key="overview_share")
        views.trend_section(filters, "overview")
    elif kpis.assets:
        st.info(views.NO_FACES)
