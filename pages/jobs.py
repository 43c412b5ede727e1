"""Jobs: the job queue with progress, ingest and analysis runs with counts, failures and
reasons, and actions that queue (re-)analyses."""

import streamlit as st

from brandmood.ui import jobs_views, views

st.title("Jobs")
views.model_caption(views.current_filters())
jobs_views.jobs_view()
