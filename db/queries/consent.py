"""Consent to face recognition: record, look up, withdraw (issue 14).

An ambassador is recognised only with a current consent record (who consented, when, on
what basis): enrolment is refused without one, matching compares faces with consenting
ambassadors' references only, and exports show only their matched faces unblurred
(:func:`db.queries.privacy.has_consent` reads :attr:`db.models.Ambassador.consent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from db.models import Ambassador, AmbassadorConsent


class ConsentError(ValueError):
    """A consent record is missing or cannot be recorded; the message says why."""


@dataclass(frozen=True)
class Consent:
    """A consent to record: who consented, on what basis, when (None: now)."""

    given_by: str
    basis: str
    consented_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.given_by.strip():
            raise ConsentError("consent needs who gave it (the ambassador, or who signed "
                               "for them)")
        if not self.basis.strip():
            raise ConsentError("consent needs its basis: a reference to the contract or "
                               "consent form")
        at = self.consented_at
        if at is not None and (at.tzinfo is None
                               or at > datetime.now(UTC) + timedelta(minutes=5)):
            raise ConsentError("the consent date must be a time-zone aware time, not in "
                               "the future")


def has_current_consent():
    """SQL condition: the ambassador (``Ambassador.id``) has a consent not withdrawn."""
    return exists().where(AmbassadorConsent.ambassador_id == Ambassador.id,
                          AmbassadorConsent.withdrawn_at.is_(None))


def record_consent(*, session: Session, ambassador_id: int, consent: Consent,
                   recorded_by: str = "") -> AmbassadorConsent:
    """Store a consent record for the ambassador."""
    row = AmbassadorConsent(ambassador_id=ambassador_id, given_by=consent.given_by.strip(),
                            basis=consent.basis.strip(),
                            consented_at=consent.consented_at or datetime.now(UTC),
                            recorded_by=recorded_by)
    session.add(row)
    session.flush()
    session.expire(session.get(Ambassador, ambassador_id), ["consents"])
    return row


def consenting_ids(*, session: Session, brand_id: int) -> set[int]:
    """Ids of the brand's ambassadors with a current consent."""
    return {int(i) for i in session.scalars(select(Ambassador.id).where(
        Ambassador.brand_id == brand_id, has_current_consent()))}


def withdraw_consent_rows(*, session: Session, ambassador_id: int, at: datetime) -> int:
    """Mark every current consent of the ambassador withdrawn; returns how many.

    Raises:
        ConsentError: the ambassador has no current consent.
    """
    done = session.execute(update(AmbassadorConsent).where(
        AmbassadorConsent.ambassador_id == ambassador_id,
        AmbassadorConsent.withdrawn_at.is_(None)).values(withdrawn_at=at)
        .execution_options(synchronize_session=False))
    if not done.rowcount:
        raise ConsentError("this ambassador has no current consent to withdraw")
    return int(done.rowcount)


__all__ = ["Consent", "ConsentError", "consenting_ids", "has_current_consent",
           "record_consent", "withdraw_consent_rows"]
