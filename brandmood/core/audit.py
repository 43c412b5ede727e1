"""The audit trail's vocabulary: what was done (:class:`AuditAction`) to what
(:class:`ObjectKind`), and how an actor is named in it.

Pure values: the table is :class:`db.models.AuditEvent`, the one write
:func:`db.queries.audit.record_event`, the service helper
:func:`brandmood.services.audit.record`.
"""

from __future__ import annotations

import enum

from brandmood.core.access import Principal, PrincipalKind


class AuditAction(enum.StrEnum):
    """What an audit event records."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    """Signed in at the identity provider, but refused by brandmood (no subject, no brand)."""
    UPLOAD = "upload"
    INGEST = "ingest"
    REVIEW = "review"
    EXPORT = "export"
    SETTINGS_CHANGE = "settings_change"
    MODEL_REGISTRATION = "model_registration"
    """A model version registered, or chosen as the one in use."""
    ERASURE = "erasure"
    MEMBERSHIP_CHANGE = "membership_change"
    """A role given, changed or taken; an owner named or removed; a brand created."""
    JOB = "job"
    """A queued job finished or failed (the worker's record)."""
    RATE_LIMITED = "rate_limited"
    """An action refused because the user did it too often (sign-in failures, exports)."""
    RETENTION = "retention"
    """A retention pass removed media, crops or whole assets past the policy's age."""


class ObjectKind(enum.StrEnum):
    """What an event's object is (its id is opaque text)."""

    ASSET = "asset"
    FACE = "face"
    JOB = "job"
    INGEST_RUN = "ingest_run"
    REPORT = "report"
    SETTING = "setting"
    MODEL_VERSION = "model_version"
    USER = "user"
    BRAND = "brand"
    ERASURE = "erasure"
    """An erasure or retention pass, by its receipt's opaque id (never the person's name)."""


def actor_name(principal: Principal) -> str:
    """How the audit trail names who acted: a signed-in user's email (else subject),
    ``os:<user>`` for the command line, ``local admin`` / ``system`` otherwise."""
    if principal.kind is PrincipalKind.USER:
        return principal.email or principal.subject or "unknown user"
    if principal.kind is PrincipalKind.CLI:
        return f"os:{principal.subject or 'unknown'}"
    return principal.kind.value
