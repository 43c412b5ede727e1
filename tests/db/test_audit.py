"""The audit trail: append-only on both backends, read inside the reader's brands, no
secrets in details, and a rate limit that counts the shared trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError as SADatabaseError

from brandmood.core.access import BrandScope
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.core.settings import load_config
from brandmood.services import audit
from db.models import AuditEvent
from db.queries.audit import EventQuery, list_events, record_event
from db.queries.core import get_or_create_brand


def _two_brands(ws) -> tuple[int, int]:
    with ws.sessions.begin() as s:
        a = get_or_create_brand(s, name="Acme").id
        b = get_or_create_brand(s, name="Beta").id
        record_event(session=s, actor="ana@example.com", action=AuditAction.UPLOAD,
                     brand_id=a, object_kind=ObjectKind.JOB, object_id=7,
                     details={"files": 2})
        record_event(session=s, actor="bob@example.com", action=AuditAction.EXPORT,
                     brand_id=b, details={"kind": "pdf"})
        record_event(session=s, actor="os:root", action=AuditAction.SETTINGS_CHANGE,
                     details={"key": "model"})
    return a, b


def test_events_are_append_only(any_ws) -> None:
    _two_brands(any_ws)
    for stmt in (update(AuditEvent).values(actor="mallory"), delete(AuditEvent)):
        with (pytest.raises(SADatabaseError, match="append-only"),
              any_ws.sessions.begin() as s):
            s.execute(stmt)
    with any_ws.session() as s:
        assert s.scalar(text("SELECT count(*) FROM audit_events")) == 3
        assert "mallory" not in {e.user for e in list_events(
            session=s, query=EventQuery(scope=BrandScope.ALL))}


def test_reads_stay_inside_the_scope(ws) -> None:
    a, _ = _two_brands(ws)
    with ws.session() as s:
        mine = list_events(session=s, query=EventQuery(scope=BrandScope.of([a])))
        every = list_events(session=s, query=EventQuery(scope=BrandScope.ALL))
        uploads = list_events(session=s, query=EventQuery(scope=BrandScope.ALL,
                                                          action=AuditAction.UPLOAD))
    assert [(e.user, e.brand, e.action) for e in mine] == [
        ("ana@example.com", "Acme", AuditAction.UPLOAD)]
    assert {e.brand for e in every} == {"Acme", "Beta", None}  # workspace events: owners only
    assert [e.user for e in uploads] == ["ana@example.com"]
    assert mine[0].to_json()["object"] == "job:7"
    assert mine[0].at.tzinfo is not None


@pytest.mark.parametrize("details", [{"client_secret": "x"}, {"face_image": "…"},
                                     {"cookie": "x"}])
def test_details_refuse_secrets_and_images(ws, details) -> None:
    with ws.sessions.begin() as s, pytest.raises(ValueError, match="no secrets"):
        record_event(session=s, actor="a", action=AuditAction.EXPORT, details=details)


def test_actions_are_enums(ws) -> None:
    with ws.sessions.begin() as s, pytest.raises(TypeError):
        record_event(session=s, actor="a", action="export")  # type: ignore[arg-type]


def test_rate_limit_counts_the_trail_and_records_the_refusal(ws) -> None:
    limit = audit.export_limit(load_config({"BRANDMOOD_MAX_EXPORTS_PER_HOUR": "2",
                                            "HOME": "/tmp"}))
    now = datetime.now(UTC)
    for _ in range(2):
        audit.enforce(ws.sessions, "ana@example.com", limit, now=now)
        with ws.sessions.begin() as s:
            audit.record(s, "ana@example.com", AuditAction.EXPORT)
    audit.enforce(ws.sessions, "bob@example.com", limit, now=now)  # per user
    with pytest.raises(audit.RateLimited, match="Too many exports"):
        audit.enforce(ws.sessions, "ana@example.com", limit, now=now)
    audit.enforce(ws.sessions, "ana@example.com", limit, now=now + timedelta(hours=1, seconds=5))
    with ws.session() as s:
        refused = list_events(session=s, query=EventQuery(
            scope=BrandScope.ALL, action=AuditAction.RATE_LIMITED))
    assert [e.user for e in refused] == ["ana@example.com"]
