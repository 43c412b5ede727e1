"""Settings: where the workspace lives, the default model, the uncertainty threshold,
privacy and retention (owners)."""

import streamlit as st

from brandmood.ui import erasure_views, settings_views, views

st.title("Settings")
views.model_caption(views.current_filters())
settings_views.settings_view()
settings_views.models_section()
erasure_views.retention_section()
