"""Recording what people do, and limiting how often they may do some of it.

**One transaction.** :func:`record` writes the event in the caller's session, so the
action and its audit row commit together or not at all: an action whose record cannot be
written fails with it (a security trail that silently misses rows would be worthless).
Actions that are not database writes (an export, a sign-in) record first and act after,
so an export whose record fails is not handed out. The worker records a job's end
(:func:`record_job`) in the transaction that stores the job's outcome.

**Rate limits** (:func:`enforce`) count the user's recent events in the audit table
itself (a sliding window), so every server process and worker sharing the database
shares the limit; a refusal is recorded as :attr:`AuditAction.RATE_LIMITED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope, Principal
from brandmood.core.audit import AuditAction, ObjectKind, actor_name
from brandmood.core.settings import Config
from db.queries import audit as aq

SIGN_IN_WINDOW = timedelta(minutes=15)
EXPORT_WINDOW = timedelta(hours=1)


def record(session: Session, actor: Principal | str, action: AuditAction, *,
           brand_id: int | None = None, object_kind: ObjectKind | None = None,
           object_id: object = None, details: Mapping[str, object] | None = None) -> None:
    """Append an event in ``session`` (commits with the caller's transaction).

    Args:
        actor: the principal who acted (named by :func:`actor_name`), or a name.
    """
    name = actor if isinstance(actor, str) else actor_name(actor)
    aq.record_event(session=session, actor=name, action=action, brand_id=brand_id,
                    object_kind=object_kind, object_id=object_id, details=details)


def record_job(session: Session, *, job_id: int, kind: str, brand_id: int | None, ok: bool,
               details: Mapping[str, object]) -> None:
    """A finished or failed job, recorded by the worker with the job's outcome."""
    aq.record_event(session=session, actor="system", action=AuditAction.JOB,
                    brand_id=brand_id, object_kind=ObjectKind.JOB, object_id=job_id,
                    details={"kind": kind, "ok": ok, **details})


def record_export(session: Session, actor: Principal, *, brand_id: int | None,
                  scope: BrandScope, object_id: str, details: Mapping[str, object]) -> None:
    """An export: one event for its brand, or (no brand picked) one per brand of the
    caller's scope, so each brand's admins see it (an owner's: one workspace-wide event)."""
    brands = ([brand_id] if brand_id is not None else [None] if scope.is_all
              else sorted(scope.ids or ()))
    for b in brands:
        record(session, actor, AuditAction.EXPORT, brand_id=b, object_kind=ObjectKind.REPORT,
               object_id=object_id, details=details)


class RateLimited(PermissionError):
    """The user did this too often; the message says when they may again."""


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events of ``actions`` per ``window`` per user."""

    what: str
    actions: tuple[AuditAction, ...]
    count: int
    window: timedelta


def sign_in_limit(cfg: Config) -> Limit:
    return Limit("failed sign-ins", (AuditAction.SIGN_IN_FAILED,), cfg.max_sign_in_failures,
                 SIGN_IN_WINDOW)


def export_limit(cfg: Config) -> Limit:
    return Limit("exports", (AuditAction.EXPORT,), cfg.max_exports_per_hour, EXPORT_WINDOW)


def enforce(sessions, actor: Principal | str, limit: Limit, *,
            now: datetime | None = None) -> None:
    """Raise :class:`RateLimited` when ``actor`` already has ``limit.count`` events of the
    limit's actions within its window; the refusal is recorded (and committed) first.

    Args:
        sessions: the workspace's session factory (``ws.sessions``): the check and the
            refusal's record are their own transaction.
    """
    name = actor if isinstance(actor, str) else actor_name(actor)
    now = now or datetime.now(UTC)
    since = now - limit.window
    with sessions.begin() as s:
        used = aq.count_since(session=s, actor=name, actions=limit.actions, since=since)
        if used < limit.count:
            return
        first = aq.oldest_since(session=s, actor=name, actions=limit.actions, since=since)
        aq.record_event(session=s, actor=name, action=AuditAction.RATE_LIMITED,
                        details={"limit": limit.what, "count": limit.count,
                                 "window_minutes": int(limit.window.total_seconds() // 60)})
    wait = max(1, int(((first or now) + limit.window - now).total_seconds() // 60) + 1)
    raise RateLimited(f"Too many {limit.what}: at most {limit.count} per "
                      f"{_minutes(limit.window)}. Try again in about {wait} minutes.")


def _minutes(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return "hour" if minutes == 60 else f"{minutes} minutes"
