"""Review: faces ordered by uncertainty; confirm or relabel, stored as Review rows."""

import streamlit as st

from brandmood.core.access import Permission
from brandmood.ui import review_views, views

st.title("Review")
filters = views.require_filters(Permission.REVIEW)
views.model_caption(filters)
if filters is not None:
    st.caption("Turn on **Use reviewed labels over model labels** in the sidebar to make every "
               "chart count the labels people gave.")
    review_views.review(filters)
