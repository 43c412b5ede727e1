"""Upload: images, videos or a zip → stored, analyzed with a live progress bar → results."""

import streamlit as st

from brandmood.core.access import AccessDenied, Permission
from brandmood.ui import asset_views, auth, jobs_views, views
from db.queries.core import list_brand_names

st.title("Upload")
filters = views.require_filters() if views.current_filters() else None
views.model_caption(filters)
with auth.session() as s:
    brands = list_brand_names(session=s, scope=auth.scope(Permission.UPLOAD))
with st.form("upload"):
    files = st.file_uploader(
        "Images, videos or a zip", accept_multiple_files=True, key="up_files",
        type=["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "heic", "mp4",
              "mov", "m4v", "avi", "mkv", "webm", "zip"])
    c1, c2 = st.columns(2)
    brand = c1.text_input("Brand", value=brands[0] if brands else "", key="up_brand",
                          help="A new name creates the brand.")
    campaign = c2.text_input("Campaign (optional)", key="up_campaign")
    channel = c1.text_input("Channel as platform:handle", value="upload:dashboard",
                            key="up_channel")
    ambassador = c2.text_input("Ambassador (optional)", key="up_ambassador")
    submitted = st.form_submit_button("Upload and analyze", type="primary")
if submitted:
    if not files:
        st.error("Choose at least one file first.")
    elif not brand.strip():
        st.error("Name the brand these files belong to.")
    else:
        try:
            auth.check_upload(brand)
            st.session_state["up_result"] = jobs_views.ingest_and_analyze(
                files, brand=brand.strip(), campaign=campaign.strip(), channel=channel.strip(),
                ambassador=ambassador.strip(), model=None)
        except (ValueError, AccessDenied) as exc:  # e.g. a channel that is not platform:handle
            st.error(str(exc))
result = st.session_state.get("up_result")
if result is not None:
    if result.analysis_error:
        st.error(f"Analysis failed: {result.analysis_error}")
    stored = jobs_views.count(len(set(result.stored)), "file")
    st.success(f"{stored} stored and analyzed"
               + (f", {len(result.duplicates)} already known" if result.duplicates else ""))
    for name, reason in result.refused:
        st.error(f"Refused {name}: {reason}")
    for asset_id in sorted(set(result.stored)):
        asset_views.detail(asset_id, use_reviews=False)
elif not files:
    st.info("Drop images, videos or a zip above, say which brand they belong to, and press "
            "**Upload and analyze**. Faces and their emotions appear here when it is done.")
