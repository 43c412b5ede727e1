"""brandmood dashboard: ``streamlit run app.py`` (or ``brandmood serve``).

The entry renders the shared sidebar filters (mirrored in the URL) on every run and then
the chosen page; every page file under ``pages/`` holds layout only.
"""

from __future__ import annotations

from pathlib import Path

from brandmood.core.runtime import configure_process

configure_process()  # an entry point: before the pages' imports load torch

import streamlit as st  # noqa: E402

from brandmood.ui.data import workspace  # noqa: E402
from brandmood.ui.filters import sidebar_filters  # noqa: E402
from db.session import DatabaseError  # noqa: E402

ROOT = Path(__file__).resolve().parent
PAGES_DIR = ROOT / "pages"

PAGES: tuple[tuple[str, str, str], ...] = (
    ("overview.py", "Overview", ":material/dashboard:"),
    ("campaigns.py", "Campaigns", ":material/campaign:"),
    ("channels.py", "Channels", ":material/hub:"),
    ("ambassadors.py", "Ambassadors", ":material/person:"),
    ("assets.py", "Assets", ":material/photo_library:"),
    ("upload.py", "Upload", ":material/upload:"),
    ("review.py", "Review", ":material/fact_check:"),
    ("reports.py", "Reports", ":material/description:"),
    ("jobs.py", "Jobs", ":material/work_history:"),
    ("settings.py", "Settings", ":material/settings:"),
)
OPTIONAL_PAGES = (("ambassador_faces.py", "Ambassador faces", ":material/face:"),)


def build_pages() -> list:
    """``st.Page`` objects for every page file (optional pages only where present)."""
    pages = [st.Page(PAGES_DIR / f, title=t, icon=i, default=(f == "overview.py"))
             for f, t, i in PAGES]
    for f, t, i in OPTIONAL_PAGES:
        if (PAGES_DIR / f).exists():
            pages.insert(4, st.Page(PAGES_DIR / f, title=t, icon=i))
    return pages


st.set_page_config(page_title="brandmood", page_icon=":material/mood:", layout="wide")
page = st.navigation(build_pages())
try:
    workspace()
except DatabaseError as exc:
    st.error(f"The workspace cannot be opened: {exc}")
    st.stop()
sidebar_filters()
page.run()
