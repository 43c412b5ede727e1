"""The audit trail's one write (:func:`record_event`) and its reads.

Append-only: there is no update or delete here, and the database rejects both (triggers
of migration ``0007_audit``). An event is written in the caller's session, so it commits
or rolls back together with the action it records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope
from brandmood.core.audit import AuditAction, ObjectKind
from db.models import AuditEvent, Brand
from db.queries.selection import in_scope

MAX_DETAILS_CHARS = 4000
"""An event's details are at most this long as JSON (longer: refused, never cut silently)."""
SECRET_WORDS = ("secret", "password", "token", "cookie", "api_key", "image", "embedding")
"""Details keys containing one of these are refused: no secrets, no face images."""


@dataclass(frozen=True)
class EventQuery:
    """Filters of :func:`list_events` (None: any)."""

    scope: BrandScope
    """Brands the reader may see; events without a brand only where it is every brand."""
    brand_id: int | None = None
    actor: str | None = None
    action: AuditAction | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000


@dataclass(frozen=True)
class EventRow:
    """One event as the Audit page and ``brandmood audit list`` show it."""

    id: int
    at: datetime
    user: str
    brand_id: int | None
    brand: str | None
    action: AuditAction
    object_kind: ObjectKind | None
    object_id: str | None
    details: dict

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "at": self.at.isoformat(), "user": self.user,
                "brand": self.brand, "brand_id": self.brand_id, "action": self.action.value,
                "object": (f"{self.object_kind.value}:{self.object_id}"
                           if self.object_kind else None),
                "details": self.details}


def _utc(value: datetime) -> datetime:
    """SQLite hands times back without their zone: they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _check_details(details: Mapping[str, object]) -> dict:
    bad = [k for k in details if any(w in str(k).lower() for w in SECRET_WORDS)]
    if bad:
        raise ValueError(f"audit details must hold no secrets or images: {sorted(bad)}")
    out = dict(details)
    if len(json.dumps(out, default=str)) > MAX_DETAILS_CHARS:
        raise ValueError(f"audit details are longer than {MAX_DETAILS_CHARS} characters")
    return json.loads(json.dumps(out, default=str))


def record_event(*, session: Session, actor: str, action: AuditAction,
                 brand_id: int | None = None, object_kind: ObjectKind | None = None,
                 object_id: object = None, details: Mapping[str, object] | None = None
                 ) -> AuditEvent:
    """Append one event in ``session`` (it commits with the caller's transaction).

    Raises:
        TypeError: ``action`` is not an :class:`AuditAction`.
        ValueError: an empty actor, or details naming a secret or an image, or too long.
    """
    if not isinstance(action, AuditAction):
        raise TypeError(f"action must be an AuditAction, got {type(action).__name__}")
    if object_kind is not None and not isinstance(object_kind, ObjectKind):
        raise TypeError(f"object_kind must be an ObjectKind, got {type(object_kind).__name__}")
    if not actor or not actor.strip():
        raise ValueError("an audit event needs an actor")
    brand = None
    if brand_id is not None:
        brand = session.scalar(select(Brand.name).where(Brand.id == brand_id))
    event = AuditEvent(actor=actor.strip()[:320], action=action, brand_id=brand_id,
                       brand=brand, object_kind=object_kind,
                       object_id=None if object_id is None else str(object_id)[:200],
                       details=_check_details(details or {}))
    session.add(event)
    session.flush()
    return event


def list_events(*, session: Session, query: EventQuery) -> list[EventRow]:
    """Events in the reader's scope matching the filters, newest first."""
    q = query
    stmt = select(AuditEvent)
    if not q.scope.is_all:
        stmt = stmt.where(AuditEvent.brand_id.is_not(None), in_scope(AuditEvent.brand_id, q.scope))
    if q.brand_id is not None:
        stmt = stmt.where(AuditEvent.brand_id == q.brand_id)
    if q.actor:
        stmt = stmt.where(AuditEvent.actor == q.actor)
    if q.action is not None:
        stmt = stmt.where(AuditEvent.action == q.action)
    if q.since is not None:
        stmt = stmt.where(AuditEvent.at >= q.since)
    if q.until is not None:
        stmt = stmt.where(AuditEvent.at < q.until)
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(q.limit)
    return [EventRow(e.id, _utc(e.at), e.actor, e.brand_id, e.brand, e.action, e.object_kind,
                     e.object_id, e.details or {}) for e in session.scalars(stmt)]


def actors(*, session: Session, scope: BrandScope) -> list[str]:
    """Everyone who appears in the events the scope reaches (the Audit page's user filter)."""
    stmt = select(AuditEvent.actor).distinct()
    if not scope.is_all:
        stmt = stmt.where(AuditEvent.brand_id.is_not(None), in_scope(AuditEvent.brand_id, scope))
    return sorted(session.scalars(stmt))


def count_since(*, session: Session, actor: str, actions: tuple[AuditAction, ...],
                since: datetime) -> int:
    """How many events of ``actions`` by ``actor`` since ``since`` (the rate limiter's
    sliding window: the trail is shared by every server process)."""
    return int(session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.actor == actor, AuditEvent.action.in_(actions),
        AuditEvent.at >= since)) or 0)


def oldest_since(*, session: Session, actor: str, actions: tuple[AuditAction, ...],
                 since: datetime) -> datetime | None:
    """The first such event in the window (when the limit frees up again)."""
    first = session.scalar(select(func.min(AuditEvent.at)).where(
        AuditEvent.actor == actor, AuditEvent.action.in_(actions), AuditEvent.at >= since))
    return None if first is None else _utc(first)


def last_details(*, session: Session, actor: str,
                 actions: tuple[AuditAction, ...]) -> dict | None:
    """The details of ``actor``'s newest event of ``actions`` (None: none yet)."""
    return session.scalar(select(AuditEvent.details).where(
        AuditEvent.actor == actor, AuditEvent.action.in_(actions))
        .order_by(AuditEvent.id.desc()).limit(1))
