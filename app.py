"""brandmood dashboard: ``streamlit run app.py`` (or ``brandmood serve``).

The entry renders the navigation and the shared sidebar filters (mirrored in the URL) on
every run and then the chosen page; every page file under ``pages/`` holds layout only.

The navigation is drawn here with ``st.page_link``: Streamlit's own sidebar navigation is
off (``client.showSidebarNavigation = false`` in ``.streamlit/config.toml``) because, with
a ``pages/`` folder beside the app, Streamlit first lists that folder's files (lower-case
names and an "app" entry) until ``st.navigation`` runs, and a click there opened a page
without this entry's sidebar.
"""

from __future__ import annotations

from pathlib import Path

from brandmood.core.runtime import configure_process

configure_process()  # an entry point: before the pages' imports load torch

import streamlit as st  # noqa: E402

from brandmood.ui.data import workspace  # noqa: E402
from brandmood.ui.filters import sidebar_filters  # noqa: E402
from brandmood.ui.responsible_use_views import intended_use_banner  # noqa: E402
from db.session import DatabaseError  # noqa: E402

ROOT = Path(__file__).resolve().parent
PAGES_DIR = ROOT / "pages"

PAGES: tuple[tuple[str, str, str], ...] = (
    ("overview.py", "Overview", ":material/dashboard:"),
    ("campaigns.py", "Campaigns", ":material/campaign:"),
    ("channels.py", "Channels", ":material/hub:"),
    ("ambassadors.py", "Ambassadors", ":material/person:"),
    ("ambassador_faces.py", "Ambassador faces", ":material/face:"),
    ("assets.py", "Assets", ":material/photo_library:"),
    ("upload.py", "Upload", ":material/upload:"),
    ("review.py", "Review", ":material/fact_check:"),
    ("reports.py", "Reports", ":material/description:"),
    ("fairness.py", "Fairness", ":material/balance:"),
    ("jobs.py", "Jobs", ":material/work_history:"),
    ("settings.py", "Settings", ":material/settings:"),
    ("responsible_use.py", "Responsible use", ":material/gavel:"),
)


def build_pages() -> list[st.Page]:
    """``st.Page`` objects for every page file, in menu order."""
    return [st.Page(PAGES_DIR / f, title=t, icon=i, default=(f == "overview.py"))
            for f, t, i in PAGES]


st.set_page_config(page_title="brandmood", page_icon=":material/mood:", layout="wide")
pages = build_pages()
page = st.navigation(pages, position="hidden")
with st.sidebar.container(key="nav"):
    for p in pages:
        st.page_link(p)
try:
    workspace()
except DatabaseError as exc:
    st.error(f"The workspace cannot be opened: {exc}")
    st.stop()
sidebar_filters()
intended_use_banner()  # until an admin confirms the intended use (Responsible use page)
page.run()
