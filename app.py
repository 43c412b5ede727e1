"""brandmood dashboard: ``streamlit run app.py`` (or ``brandmood serve``).

The entry renders the navigation and the shared sidebar filters (mirrored in the URL) on
every run and then the chosen page; every page file under ``pages/`` holds layout only.

Who is here comes first (:func:`brandmood.ui.auth.gate`: the sign-in page, or the local
admin); the navigation then lists the pages the principal's roles may use, and any other
page's URL shows a refusal instead of running the page.

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

from brandmood.core.access import Permission, Principal, lowest_role  # noqa: E402
from brandmood.ui import auth  # noqa: E402
from brandmood.ui.data import workspace  # noqa: E402
from brandmood.ui.filters import sidebar_filters  # noqa: E402
from brandmood.ui.responsible_use_views import intended_use_banner  # noqa: E402
from db.session import DatabaseError  # noqa: E402

ROOT = Path(__file__).resolve().parent
PAGES_DIR = ROOT / "pages"

# Page file, title, icon, and the permission a principal needs in at least one brand.
# (Comments, not docstrings: Streamlit's magic would write a bare string on every page.)
PAGES: tuple[tuple[str, str, str, Permission], ...] = (
    ("overview.py", "Overview", ":material/dashboard:", Permission.VIEW),
    ("campaigns.py", "Campaigns", ":material/campaign:", Permission.VIEW),
    ("channels.py", "Channels", ":material/hub:", Permission.VIEW),
    ("ambassadors.py", "Ambassadors", ":material/person:", Permission.VIEW),
    ("ambassador_faces.py", "Ambassador faces", ":material/face:", Permission.REVIEW),
    ("assets.py", "Assets", ":material/photo_library:", Permission.VIEW),
    ("upload.py", "Upload", ":material/upload:", Permission.UPLOAD),
    ("review.py", "Review", ":material/fact_check:", Permission.REVIEW),
    ("agreement.py", "Agreement", ":material/handshake:", Permission.REVIEW),
    ("reports.py", "Reports", ":material/description:", Permission.VIEW),
    ("fairness.py", "Fairness", ":material/balance:", Permission.VIEW),
    ("jobs.py", "Jobs", ":material/work_history:", Permission.INGEST),
    ("members.py", "Members", ":material/group:", Permission.MEMBERS),
    ("audit.py", "Audit", ":material/policy:", Permission.MEMBERS),
    ("settings.py", "Settings", ":material/settings:", Permission.SETTINGS),
    ("responsible_use.py", "Responsible use", ":material/gavel:", Permission.VIEW),
)
# Pages whose permission is needed workspace-wide (their settings change every brand).
WORKSPACE_WIDE = frozenset({Permission.SETTINGS})


def may_use(principal: Principal, permission: Permission) -> bool:
    """Whether the principal may use a page that needs ``permission``."""
    if permission in WORKSPACE_WIDE:
        return principal.can(permission)
    return not principal.allowed_brands(permission).is_empty


def _refused(title: str, permission: Permission, principal: Principal):
    """A stand-in page for one the principal may not use: a refusal, never the page."""
    role = lowest_role(permission)
    need = ("a workspace owner" if permission in WORKSPACE_WIDE or role is None
            else f"the {role.value} role in a brand")

    def refused() -> None:
        if principal.allowed_brands().is_empty:
            auth.refuse(f"Signed in as {principal.label}, but no brand is shared with you "
                        "yet. Ask a brand admin to add you on the Members page.")
        auth.refuse(f"Access refused: the {title} page needs {need}.")
    return refused


def build_pages(principal: Principal) -> tuple[list[st.Page], list[st.Page]]:
    """``(every page, the pages the principal may use)`` in menu order; the others are
    refusals under the same URL."""
    pages, usable = [], []
    for f, t, i, perm in PAGES:
        default = f == "overview.py"
        if may_use(principal, perm):
            page = st.Page(PAGES_DIR / f, title=t, icon=i, default=default)
            usable.append(page)
        else:
            page = st.Page(_refused(t, perm, principal), title=t, icon=i, default=default,
                           url_path=None if default else Path(f).stem)
        pages.append(page)
    return pages, usable


st.set_page_config(page_title="brandmood", page_icon=":material/mood:", layout="wide")
try:
    workspace()
except DatabaseError as exc:
    st.error(f"The workspace cannot be opened: {exc}")
    st.stop()
who = auth.gate()
pages, usable = build_pages(who)
page = st.navigation(pages, position="hidden")
with st.sidebar.container(key="nav"):
    for p in usable:
        st.page_link(p)
auth.sidebar_identity()
if page in usable:
    sidebar_filters()
    intended_use_banner()  # until an admin confirms the intended use (Responsible use page)
page.run()
