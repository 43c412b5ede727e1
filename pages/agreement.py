"""Agreement: how much reviewers agree with each other, and the model with their consensus."""

import streamlit as st

from brandmood.core.access import Permission
from brandmood.ui import agreement_views, views

st.title("Agreement")
filters = views.require_filters(Permission.REVIEW)
if filters is not None:
    agreement_views.agreement_view(filters)
    views.model_caption(filters)  # the model behind 'model vs consensus'
