"""Fairness: per skin-tone group (an appearance estimate of each face crop), what the model
says and how often it errs, and the groups whose negative-emotion rates stand out."""

import streamlit as st

from brandmood.ui import fairness_views, views

st.title("Fairness")
filters = views.require_filters()
views.model_caption(filters)
if filters is not None:
    fairness_views.fairness_view(filters)
