"""Assets: a filtered gallery; ``?asset=ID`` opens one asset with its faces."""

import streamlit as st

from brandmood.ui import asset_views, views

st.title("Assets")
filters = views.require_filters()
views.model_caption(filters)
asset_id = st.query_params.get("asset", "")
if asset_id.isdigit():
    st.button("← Back to the gallery", key="back",
              on_click=lambda: st.query_params.pop("asset", None))
    asset_views.detail(int(asset_id), use_reviews=bool(filters and filters.use_reviews))
elif filters is not None:
    asset_views.gallery(filters)
