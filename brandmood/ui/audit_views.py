"""The Audit page's views: the audit trail of the brands a user administers (owners: every
event, workspace-wide ones included), with filters, a table and a CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from brandmood.core.access import BrandScope, Permission
from brandmood.core.audit import AuditAction
from brandmood.services import audit
from brandmood.ui import auth
from brandmood.ui.data import workspace
from db.queries import audit as aq
from db.queries.core import list_brands

ALL = "(all)"
CSV_COLUMNS = ("at", "user", "brand", "action", "object", "details")
DEFAULT_DAYS = 30


def _query(scope: BrandScope) -> aq.EventQuery:
    """The filters the user picked (brands, users and actions within ``scope``)."""
    with auth.session(Permission.MEMBERS) as s:
        brands = {b.id: b.name for b in list_brands(session=s, scope=scope)}
        users = aq.actors(session=s, scope=scope)
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1.4])
    brand = c1.selectbox("Brand", [None, *brands], key="au_brand",
                         format_func=lambda b: ALL if b is None else brands[b])
    user = c2.selectbox("User", [None, *users], key="au_user",
                        format_func=lambda u: ALL if u is None else u)
    action = c3.selectbox("Action", [None, *AuditAction], key="au_action",
                          format_func=lambda a: ALL if a is None else a.value)
    today = datetime.now(UTC).date()
    picked = c4.date_input("Dates (UTC)", (today - timedelta(days=DEFAULT_DAYS), today),
                           key="au_dates")
    lo, hi = (picked if isinstance(picked, tuple) and len(picked) == 2
              else (picked[0], picked[0]) if isinstance(picked, tuple) and picked
              else (picked, picked) if isinstance(picked, date) else (None, None))
    return aq.EventQuery(scope=scope, brand_id=brand, actor=user, action=action,
                         since=datetime.combine(lo, time.min, tzinfo=UTC) if lo else None,
                         until=(datetime.combine(hi + timedelta(days=1), time.min, tzinfo=UTC)
                                if hi else None))


def _row(e: aq.EventRow) -> dict[str, object]:
    return {"at": e.at.strftime("%Y-%m-%d %H:%M:%S UTC"), "user": e.user,
            "brand": e.brand or "", "action": e.action.value,
            "object": f"{e.object_kind.value}:{e.object_id}" if e.object_kind else "",
            "details": json.dumps(e.details, sort_keys=True) if e.details else ""}


def events_csv(rows: list[aq.EventRow]) -> bytes:
    """The events as CSV (UTF-8), the table's columns."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(_row(e) for e in rows)
    return buf.getvalue().encode("utf-8")


def _export(rows: list[aq.EventRow], query: aq.EventQuery) -> None:
    """Prepare the CSV (a recorded export, rate-limited), then offer its download."""
    if st.button("Prepare CSV", key="au_prepare"):
        ws, who = workspace(), auth.principal()
        try:
            audit.enforce(ws.sessions, who, audit.export_limit(ws.config))
        except audit.RateLimited as exc:
            st.error(str(exc))
            return
        data = events_csv(rows)
        with ws.sessions.begin() as s:
            audit.record_export(s, who, brand_id=query.brand_id, scope=query.scope,
                                object_id="audit_csv", details={"events": len(rows)})
        st.session_state["au_csv"] = (query, data)
    ready = st.session_state.get("au_csv")
    if ready is not None and ready[0] == query:
        st.download_button("Download audit.csv", ready[1], file_name="audit.csv",
                           mime="text/csv", key="au_download")


def audit_view() -> None:
    """Filters, the matching events (newest first) and the CSV export."""
    scope = auth.scope(Permission.MEMBERS)
    if not scope.is_all:
        st.caption("You see the events of the brands you administer; sign-ins and "
                   "workspace-wide changes are for workspace owners.")
    query = _query(scope)
    with workspace().session() as s:
        rows = aq.list_events(session=s, query=query)
    if not rows:
        st.info("No event matches these filters.")
        return
    more = " (the newest; narrow the filters for older ones)" if len(rows) >= query.limit else ""
    st.caption(f"{len(rows)} events{more}.")
    st.dataframe([_row(e) for e in rows], hide_index=True, key="au_table")
    _export(rows, query)
