"""Upload: images, videos or a zip → stored at once, analyzed by a queued job → faces."""

import streamlit as st

from brandmood.core.access import AccessDenied, Permission
from brandmood.ui import auth, jobs_views, views
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
            st.session_state["up_result"] = jobs_views.store_and_enqueue(
                files, brand=brand.strip(), campaign=campaign.strip(), channel=channel.strip(),
                ambassador=ambassador.strip(), model=None)
        except (ValueError, AccessDenied) as exc:  # e.g. a channel that is not platform:handle
            st.error(str(exc))
result = st.session_state.get("up_result")
if result is not None:
    jobs_views.upload_status(result, use_reviews=False)
elif not files:
    st.info("Drop images, videos or a zip above, say which brand they belong to, and press "
            "**Upload and analyze**. The files are stored at once and analyzed in the "
            "background; faces and their emotions appear here when it is done.")
