"""Responsible use: intended use (confirmed by an admin), out-of-scope uses, the AI Act and
GDPR points, the model card, and the disclosure text a brand can publish."""

import streamlit as st

from brandmood.ui import responsible_use_views, views

st.title("Responsible use")
views.model_caption(views.current_filters())
responsible_use_views.responsible_use_view()
