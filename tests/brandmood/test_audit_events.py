"""The services record what they do in the audit trail, in the same transaction: sign-ins
(and refused ones), membership changes, queued uploads and analyses, finished jobs."""

from __future__ import annotations

import pytest

from brandmood.core.access import AccessDenied, BrandScope, Principal, PrincipalKind, Role
from brandmood.core.audit import AuditAction
from brandmood.services import access
from brandmood.services.jobs import enqueue_analysis
from brandmood.services.worker import Worker
from db.models import JobKind
from db.queries.audit import EventQuery, list_events
from db.queries.core import get_or_create_brand


def _events(ws, **filters):
    with ws.session() as s:
        return list_events(session=s, query=EventQuery(scope=BrandScope.ALL, **filters))


def _identity(email: str) -> access.Identity:
    return access.Identity(subject=f"sub-{email}", email=email, display_name="", groups=())


def test_sign_in_membership_and_refusals_are_recorded(ws) -> None:
    owner = access.cli_operator()
    with ws.sessions.begin() as s:
        acme = access.create_brand(s, owner, name="Acme").id
        access.set_member(s, owner, brand_id=acme, user="admin@x.test", role=Role.ADMIN)
    with ws.sessions.begin() as s:
        admin = access.sign_in(s, _identity("admin@x.test"))
        access.sign_in(s, _identity("stranger@x.test"))
    with ws.sessions.begin() as s:
        access.set_member(s, admin, brand_id=acme, user="ana@x.test", role=Role.VIEWER)
    with pytest.raises(AccessDenied), ws.sessions.begin() as s:  # refused: rolled back, no row
        access.set_member(s, admin, brand_id=acme, user="ana@x.test", role=Role.ADMIN)
    seen = [(e.user, e.action, e.brand, e.object_id) for e in reversed(_events(ws))]
    me = f"os:{owner.subject}"
    assert seen == [
        (me, AuditAction.MEMBERSHIP_CHANGE, "Acme", str(acme)),  # the brand
        (me, AuditAction.MEMBERSHIP_CHANGE, "Acme", "admin@x.test"),
        ("admin@x.test", AuditAction.SIGN_IN, None, str(admin.user_id)),
        ("stranger@x.test", AuditAction.SIGN_IN_FAILED, None, None),
        ("admin@x.test", AuditAction.MEMBERSHIP_CHANGE, "Acme", "ana@x.test")]


def test_queued_jobs_and_their_end_are_recorded(ws) -> None:
    ana = Principal(PrincipalKind.USER, subject="s1", email="ana@x.test")
    with ws.sessions.begin() as s:
        acme = get_or_create_brand(s, name="Acme").id
        upload = enqueue_analysis(session=s, kind=JobKind.UPLOAD, asset_ids=[], brand_id=acme,
                                  actor=ana, details={"files": 0, "duplicates": ["x.jpg"]})
        enqueue_analysis(session=s, kind=JobKind.ANALYZE, asset_ids=[], actor=ana)
        enqueue_analysis(session=s, kind=JobKind.ANALYZE, asset_ids=[])  # no actor: no event
    Worker(ws).run(once=True)  # no assets to analyze: the jobs end at once
    by_action = {a: _events(ws, action=a) for a in (AuditAction.UPLOAD, AuditAction.INGEST,
                                                    AuditAction.JOB)}
    [up] = by_action[AuditAction.UPLOAD]
    assert (up.user, up.brand, up.object_id) == ("ana@x.test", "Acme", str(upload))
    assert up.details == {"kind": "upload", "assets": 0, "files": 0}  # no file names
    assert [e.user for e in by_action[AuditAction.INGEST]] == ["ana@x.test"]
    jobs = by_action[AuditAction.JOB]
    assert len(jobs) == 3 and {e.user for e in jobs} == {"system"}
    assert all(e.details["ok"] is True for e in jobs)


def test_a_sign_in_is_recorded_once_not_per_page_load(ws) -> None:
    owner = access.cli_operator()
    with ws.sessions.begin() as s:
        acme = access.create_brand(s, owner, name="Acme").id
        access.set_member(s, owner, brand_id=acme, user="ana@x.test", role=Role.VIEWER)
    first, again = (access.Identity("sub-ana", "ana@x.test", "", (), issued_at=t)
                    for t in (1000, 2000))
    for who in (first, first, first, again):  # three page loads, then a new sign-in
        with ws.sessions.begin() as s:
            access.sign_in(s, who)
    assert [e.details["iat"] for e in _events(ws, action=AuditAction.SIGN_IN)] == [2000, 1000]
