"""The app's workspace (opened once) and cached access to the dashboard's data.

Results are cached with ``st.cache_data`` keyed by the database, the data version (which
changes whenever a job or a reviewer writes) and the arguments, so a rerun that changes
nothing costs a few index lookups. The filters carry the caller's brand scope
(:class:`~brandmood.core.access.BrandScope`), so every cached result is keyed by it too: a
new cached read must take the filters (or a scope) as an argument, never read a brand's
rows keyed by the database alone. A page's numbers come from one cached scan
(:func:`page_data`); :func:`kpis`, :func:`trend`, :func:`distribution` and
:func:`engagement` read it.

Sessions run in their own threads. Several sessions that miss the same key at once
compute it once: ``st.cache_data`` holds a per-key compute lock on a miss and the others
wait for its result (tests/pages/test_concurrent_reads.py asks with many threads at once).
"""

from __future__ import annotations

import streamlit as st

from brandmood.core.settings import load_config
from brandmood.services import dashboard as sd
from brandmood.services.dashboard import EngagementRow, GroupCount, Kpis, PageData, Period
from db.queries import dashboard as dq
from db.queries import dashboard_assets as da
from db.queries.dashboard import DataVersion, GroupBy
from db.queries.dashboard_assets import GalleryItem
from db.queries.selection import DashboardFilters
from db.workspace import Workspace, open_workspace


@st.cache_resource(show_spinner="Opening the workspace…")
def _open(home: str, database_url: str) -> Workspace:
    return open_workspace(load_config())


def workspace() -> Workspace:
    """The workspace ``BRANDMOOD_HOME`` / ``BRANDMOOD_DATABASE_URL`` name (opened once)."""
    cfg = load_config()
    return _open(str(cfg.home), cfg.database_url)


def db_key() -> str:
    cfg = load_config()
    return f"{cfg.database_url}|{cfg.home}"


def version() -> DataVersion:
    """The current data version (uncached: a handful of index lookups)."""
    with workspace().session() as s:
        return dq.data_version(session=s)


@st.cache_data(show_spinner=False, max_entries=512)
def _page_data(key: str, ver: DataVersion, filters: DashboardFilters,
               group: GroupBy | None) -> PageData:
    with workspace().session() as s:
        return sd.page_data(session=s, filters=filters, group=group)


@st.cache_data(show_spinner=False, max_entries=512)
def _model_versions(key: str, ver: DataVersion, filters: DashboardFilters) -> list[str]:
    with workspace().session() as s:
        return dq.model_versions(session=s, filters=filters)


@st.cache_data(show_spinner=False, max_entries=512)
def _gallery(key: str, ver: DataVersion, filters: DashboardFilters, labels: tuple[str, ...],
             limit: int, offset: int) -> tuple[int, list[GalleryItem]]:
    with workspace().session() as s:
        return da.gallery(session=s, filters=filters, labels=labels, limit=limit,
                          offset=offset)


def page_data(filters: DashboardFilters, group: GroupBy | None = None) -> PageData:
    """The page's one scan (Overview: ``group`` None; a group page: its group), cached."""
    return _page_data(db_key(), version(), filters, group)


def kpis(filters: DashboardFilters) -> Kpis:
    """Headline numbers of the selection (from the Overview's scan)."""
    return page_data(filters).kpis()


def trend(filters: DashboardFilters, period: Period = Period.WEEK,
          group: GroupBy | None = None) -> list[GroupCount]:
    """Faces per (period start, label), from the page's scan (``group``: a group page's)."""
    return page_data(filters, group).trend(period)


def distribution(filters: DashboardFilters, group: GroupBy) -> list[GroupCount]:
    """Faces per (group, label), from the group page's scan."""
    return page_data(filters, group).distribution()


def engagement(filters: DashboardFilters, group: GroupBy) -> list[EngagementRow]:
    """Engagement per asset-dominant label, from the group page's scan."""
    return page_data(filters, group).engagement()


def model_versions(filters: DashboardFilters) -> list[str]:
    """``name@version`` of the runs behind the selection's numbers, cached."""
    return _model_versions(db_key(), version(), filters)


def gallery(filters: DashboardFilters, *, labels: tuple[str, ...] = (), limit: int = 24,
            offset: int = 0) -> tuple[int, list[GalleryItem]]:
    """A page of the gallery: ``(total matching assets, items)``, cached."""
    return _gallery(db_key(), version(), filters, labels, limit, offset)
