"""Retention: drop media (and crops, thumbnails) N days after analysis, everything after M.

``brandmood retention apply`` runs :func:`apply_retention` (a dry run first; also fit for
a schedule, e.g. a daily cron line). Media retention keeps the face rows, outcomes and
counts (the dashboards' numbers do not change) and marks each asset, so pages and reports
say that its thumbnail was removed by the policy. Full retention erases the assets stored
before the cut-off as :mod:`brandmood.services.erasure` does. A file another asset still
uses (content-addressed storage) stays until that asset's media go too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from brandmood.core.access import Permission, Principal
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.services import audit
from brandmood.services.erasure import ErasureReceipt
from db.models import ErasureKind
from db.queries import erasure as eq
from db.queries import retention as rq
from db.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep media after analysis and everything after storing (None: keep)."""

    media_days: int | None = None
    all_days: int | None = None

    def __post_init__(self) -> None:
        for name in ("media_days", "all_days"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a whole number of days, at least 1; got {v!r}")

    @classmethod
    def configured(cls, ws: Workspace) -> RetentionPolicy:
        """``BRANDMOOD_RETENTION_MEDIA_DAYS`` and ``BRANDMOOD_RETENTION_ALL_DAYS``."""
        return cls(ws.config.retention_media_days, ws.config.retention_all_days)


@dataclass
class RetentionReport:
    """What a pass removed (or, dry, would remove).

    Attributes:
        media_assets: assets whose media were (would be) removed.
        erased_assets: assets erased entirely (would be).
        counts: rows and files removed (a dry run: none).
        receipt: the audit receipt (a dry run: None).
    """

    policy: RetentionPolicy
    dry_run: bool
    media_assets: int = 0
    media_files: int = 0
    erased_assets: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    receipt: ErasureReceipt | None = None

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        out = [f"media of {self.media_assets} asset(s) analyzed more than "
               f"{self.policy.media_days} days ago ({self.media_files} file(s)): {verb}"
               if self.policy.media_days else "media: kept (no media retention set)",
               f"{self.erased_assets} asset(s) stored more than {self.policy.all_days} days "
               f"ago: {'would be erased' if self.dry_run else 'erased'}"
               if self.policy.all_days else "assets: kept (no full retention set)"]
        if self.counts:
            out.append("removed: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())))
        return out


def apply_retention(ws: Workspace, principal: Principal, *, policy: RetentionPolicy,
                    dry_run: bool = False, now: datetime | None = None) -> RetentionReport:
    """Apply a retention policy to the whole workspace (owners: every brand).

    Raises:
        AccessDenied: the principal is no workspace owner.
    """
    principal.require(Permission.ERASE, None, what="applying the retention policy")
    now = now or datetime.now(UTC)
    report = RetentionReport(policy, dry_run)
    with ws.sessions.begin() as s:
        erase = (rq.assets_stored_before(session=s, before=now - timedelta(days=policy.all_days))
                 if policy.all_days else [])
        erased = set(erase)
        due = ([(a, p) for a, p in rq.media_due(
            session=s, before=now - timedelta(days=policy.media_days)) if a not in erased]
            if policy.media_days else [])
        report.media_assets, report.erased_assets = len(due), len(erase)
        report.media_files = len({p for _, p in due})
        if dry_run:  # nothing written: the transaction commits no change
            return report
        removed = eq.erase_asset_rows(session=s, asset_ids=erase)
        removed.counts["media_removed"] += rq.mark_media_removed(
            session=s, asset_ids=[a for a, _ in due], at=now)
        eq.after_erasure(session=s, asset_ids=removed.asset_ids)
    removed.files |= {p for _, p in due}  # their pictures go as an erased asset's do
    with ws.session() as s:
        files = eq.delete_files(ws.media, removed, session=s)
    report.counts = {k: int(v) for k, v in (removed.counts + files).items() if v}
    with ws.sessions.begin() as s:
        subject = eq.opaque_id(session=s, kind=ErasureKind.RETENTION, key=now.isoformat())
        entry = eq.log_erasure(session=s, kind=ErasureKind.RETENTION, subject=subject,
                               counts=report.counts, erased_by=principal.label)
        audit.record(s, principal, AuditAction.RETENTION, object_kind=ObjectKind.ERASURE,
                     object_id=subject, details={"counts": report.counts})
        report.receipt = ErasureReceipt(ErasureKind.RETENTION, subject, report.counts,
                                        entry.erased_at, entry.erased_by)
    log.info("retention %s: %s", subject, report.counts)
    return report


__all__ = ["RetentionPolicy", "RetentionReport", "apply_retention"]
