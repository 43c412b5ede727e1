"""Audit page: a brand admin sees their brand's events only, filters them and exports a
CSV (itself recorded); the local admin (an owner) sees every event; a viewer is refused."""

from __future__ import annotations

import csv
import getpass
import io

from brandmood.core.access import BrandScope, Role
from brandmood.core.audit import AuditAction
from brandmood.services import access, audit
from brandmood.ui.audit_views import events_csv
from db.queries.audit import EventQuery, list_events
from db.queries.core import get_or_create_brand
from tests.pages.conftest import run_page

ADMIN = {"sub": "admin-sub", "email": "admin@acme.test"}
VIEWER = {"sub": "viewer-sub", "email": "viewer@acme.test"}


def _trail(filled) -> tuple[int, int]:
    """Members of Acme, and events in Acme, in the other brand and workspace-wide."""
    acme = filled.ids["brand"]
    cli = access.cli_operator()
    with filled.ws.sessions.begin() as s:
        other = get_or_create_brand(s, name="Other").id
        access.set_member(s, cli, brand_id=acme, user="admin@acme.test", role=Role.ADMIN)
        access.set_member(s, cli, brand_id=acme, user="viewer@acme.test", role=Role.VIEWER)
        audit.record(s, "ana@acme.test", AuditAction.EXPORT, brand_id=acme,
                     details={"kind": "pdf"})
        audit.record(s, "olga@other.test", AuditAction.UPLOAD, brand_id=other)
        audit.record(s, "boss@x.test", AuditAction.SETTINGS_CHANGE)
    return acme, other


def _table(at) -> list[dict]:
    [table] = at.dataframe
    return table.value.to_dict("records")


def test_a_brand_admin_sees_filters_and_exports_their_brands_events(filled):
    acme, _ = _trail(filled)
    at = run_page("audit.py", user=ADMIN)
    assert [t.value for t in at.title] == ["Audit"]
    rows = _table(at)
    # Acme's events only: not Other's, nor workspace-wide ones (the admin's own sign-in too)
    assert {r["brand"] for r in rows} == {"Acme"}
    assert {(r["user"], r["action"]) for r in rows} == {
        (f"os:{getpass.getuser()}", "membership_change"), ("ana@acme.test", "export")}
    assert at.selectbox(key="au_brand").options == ["(all)", "Acme"]
    at.selectbox(key="au_action").set_value(AuditAction.EXPORT).run()
    assert [r["user"] for r in _table(at)] == ["ana@acme.test"]
    at.button(key="au_prepare").click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.get("download_button")[0].proto.label == "Download audit.csv"
    at.run()  # the table again: the CSV export is an event of its own
    assert sorted(r["user"] for r in _table(at)) == ["admin@acme.test", "ana@acme.test"]
    with filled.ws.session() as s:
        events = list_events(session=s, query=EventQuery(scope=BrandScope.of([acme])))
    parsed = list(csv.DictReader(io.StringIO(events_csv(events).decode())))
    assert [(r["user"], r["action"]) for r in parsed] == [
        (e.user, e.action.value) for e in events]


def test_the_local_admin_sees_every_event(filled):
    _trail(filled)
    at = run_page("audit.py")
    rows = _table(at)
    assert {"Acme", "Other", ""} <= {r["brand"] for r in rows}
    assert {"olga@other.test", "boss@x.test"} <= {r["user"] for r in rows}


def test_a_viewer_does_not_get_the_page(filled):
    _trail(filled)
    at = run_page(user=VIEWER)
    links = {link.proto.label for link in at.get("page_link")}
    assert "Overview" in links and "Audit" not in links
    assert "Audit" in {link.proto.label for link in run_page(user=ADMIN).get("page_link")}


def test_refused_sign_ins_are_recorded_and_limited(filled, monkeypatch):
    monkeypatch.setenv("BRANDMOOD_MAX_SIGN_IN_FAILURES", "2")
    stranger = {"sub": "stranger-sub", "email": "stranger@else.test"}
    for iat in (1000, 1000, 2000):  # a reload of the first sign-in is not a new failure
        at = run_page(user={**stranger, "iat": iat})
        assert "no brand is shared with you yet" in at.error[0].value
    at = run_page(user={**stranger, "iat": 3000})
    assert at.error[0].value.startswith("Sign-in refused: Too many failed sign-ins: at most 2 "
                                        "per 15 minutes"), at.error[0].value
    assert not at.get("page_link")
    with filled.ws.session() as s:
        trail = list_events(session=s, query=EventQuery(scope=BrandScope.ALL))
    mine = [e.action for e in reversed(trail) if e.user == "stranger@else.test"]
    assert mine == [AuditAction.SIGN_IN_FAILED, AuditAction.SIGN_IN_FAILED,
                    AuditAction.RATE_LIMITED]
