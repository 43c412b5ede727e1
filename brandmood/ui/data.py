"""The app's workspace (opened once) and cached access to the dashboard queries.

Results are cached with ``st.cache_data`` keyed by the database, the data version (which
changes whenever a job or a reviewer writes) and the filters, so a rerun that changes
nothing costs a few index lookups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from brandmood.core.settings import load_config
from db.queries import dashboard as dq
from db.queries import dashboard_assets as da
from db.queries import dashboard_cube as dc
from db.queries.dashboard import DashboardFilters, DataVersion
from db.workspace import Workspace, open_workspace

QUERIES: dict[str, Callable[..., Any]] = {
    "page_data": dc.page_data,
    "label_counts": dq.label_counts,
    "model_versions": dq.model_versions,
    "gallery": da.gallery,
    "top_assets": da.top_assets,
}


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
def _query(key: str, ver: DataVersion, name: str, filters: DashboardFilters | None,
           args: tuple) -> Any:
    fn = QUERIES[name]
    with workspace().session() as s:
        kwargs = dict(args)
        if filters is not None:
            kwargs["filters"] = filters
        return fn(session=s, **kwargs)


DERIVED = ("kpis", "trend", "distribution", "engagement")
"""Names answered from the page's cached :class:`~db.queries.dashboard_cube.PageData`
(one scan per page and filters; ``group=`` picks the group page's data)."""


def query(name: str, filters: DashboardFilters | None = None, **kwargs: Any) -> Any:
    """Run a named dashboard query through the cache.

    Raises:
        KeyError: for an unknown query name.
    """
    if name in DERIVED:
        group = kwargs.pop("group", None)
        data = _query(db_key(), version(), "page_data", filters,
                      (("group", group),) if group is not None else ())
        return getattr(data, name)(**kwargs)
    if name not in QUERIES:
        raise KeyError(f"unknown dashboard query {name!r}")
    return _query(db_key(), version(), name, filters, tuple(sorted(kwargs.items())))
