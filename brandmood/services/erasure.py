"""Erasure (the right to be forgotten): a person, an asset, a campaign, a channel, a brand.

Every erasure needs the erase permission (an admin) in the brand, runs in one transaction
(rows, then :func:`db.queries.erasure.after_erasure` so no count still includes what is
gone, then the audit entry), and then deletes the media files, crops and thumbnails no
remaining asset uses. It returns an :class:`ErasureReceipt` that holds no personal data:
the erased subject is named by an opaque id, never by a name, a file name or a row id.
Logs name the opaque id only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brandmood.core.access import Permission, Principal
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.services import audit
from db.models import Asset, Campaign, Channel, ErasureKind
from db.queries import consent as cq
from db.queries import erasure as eq
from db.queries.consent import Consent, withdraw_consent_rows
from db.queries.core import NotFoundError, get_brand
from db.queries.identity import find_ambassador
from db.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErasureReceipt:
    """What an erasure removed, when and by whom; no personal data of the erased subject.

    Attributes:
        kind: what was erased.
        subject: opaque id of the erased subject (sha256 with the workspace's secret salt).
        counts: rows removed or detached and files deleted, by what they were.
        erased_at: when (UTC).
        erased_by: who erased it (the acting user, as audit lines name them).
    """

    kind: ErasureKind
    subject: str
    counts: dict[str, int]
    erased_at: datetime
    erased_by: str

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["erased_at"] = self.erased_at.isoformat()
        return d

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True)

    def lines(self) -> list[str]:
        """The receipt for people, one line per fact."""
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()) if v) or "nothing"
        return [f"erased {self.kind.value} {self.subject}", f"removed: {counts}",
                f"at {self.erased_at:%Y-%m-%d %H:%M:%S} UTC by {self.erased_by}"]


def matched_faces_setting(ws: Workspace) -> eq.MatchedFaces:
    """``BRANDMOOD_ERASE_MATCHED_FACES`` as an enum."""
    return eq.MatchedFaces(ws.config.erase_matched_faces)


def _erase(ws: Workspace, principal: Principal, kind: ErasureKind,
           locate: Callable[[Session], tuple[int, object]],
           rows: Callable[[Session, object], eq.Removed]) -> ErasureReceipt:
    """Gate, erase rows, recompute, log; then delete files. ``locate`` finds the subject's
    ``(brand id, key)`` (raising NotFoundError), ``rows`` erases it."""
    with ws.sessions.begin() as s:
        brand_id, key = locate(s)
        principal.require(Permission.ERASE, brand_id)
        subject = eq.opaque_id(session=s, kind=kind, key=key)
        removed = rows(s, key)
        eq.after_erasure(session=s, asset_ids=removed.asset_ids)
    with ws.session() as s:
        files = eq.delete_files(ws.media, removed, session=s)
    counts = {k: int(v) for k, v in (removed.counts + files).items() if v}
    with ws.sessions.begin() as s:
        entry = eq.log_erasure(session=s, kind=kind, subject=subject, counts=counts,
                               erased_by=principal.label)
        audit.record(s, principal, AuditAction.ERASURE, brand_id=brand_id,
                     object_kind=ObjectKind.ERASURE, object_id=subject,
                     details={"kind": kind.value, "counts": counts})
        receipt = ErasureReceipt(kind, subject, counts, entry.erased_at, entry.erased_by)
    log.info("erasure of %s %s: %s", kind.value, subject, counts)
    return receipt


def erase_ambassador(ws: Workspace, principal: Principal, *, brand: str, name: str,
                     matched: eq.MatchedFaces | None = None) -> ErasureReceipt:
    """Erase an ambassador and the faces matched to them (removed or detached: ``matched``,
    default ``BRANDMOOD_ERASE_MATCHED_FACES``).

    Raises:
        NotFoundError: unknown brand or ambassador.
        AccessDenied: the principal is no admin of the brand.
    """
    mode = matched or matched_faces_setting(ws)

    def locate(s: Session) -> tuple[int, object]:
        amb = find_ambassador(session=s, brand=get_brand(s, name=brand), name=name)
        return amb.brand_id, amb.id

    return _erase(ws, principal, ErasureKind.AMBASSADOR, locate, lambda s, k: (
        eq.erase_ambassador_rows(session=s, ambassador_id=int(k), matched=mode)))


def erase_face(ws: Workspace, principal: Principal, *, face_id: int,
               matched: eq.MatchedFaces | None = None) -> ErasureReceipt:
    """Erase the person a face shows: the ambassador it is matched to with every face
    matched to them, or, for an unmatched face, that face (and its video track).

    Raises:
        NotFoundError: unknown face.
        AccessDenied: the principal is no admin of the face's brand.
    """
    mode = matched or matched_faces_setting(ws)
    with ws.session() as s:
        try:
            brand_id, amb = eq.face_identity(session=s, face_id=face_id)
        except LookupError as exc:
            raise NotFoundError(str(exc)) from None
    if amb is not None:
        return _erase(ws, principal, ErasureKind.AMBASSADOR, lambda s: (brand_id, amb),
                      lambda s, k: eq.erase_ambassador_rows(session=s, ambassador_id=int(k),
                                                            matched=mode))
    return _erase(ws, principal, ErasureKind.FACE, lambda s: (brand_id, face_id),
                  lambda s, k: eq.erase_face_rows(session=s, face_id=int(k)))


def erase_asset(ws: Workspace, principal: Principal, *, asset_id: int) -> ErasureReceipt:
    """Erase an asset with its faces, and its media file unless another asset uses it.

    Raises:
        NotFoundError: unknown asset.
        AccessDenied: the principal is no admin of the asset's brand.
    """
    def locate(s: Session) -> tuple[int, object]:
        brand_id = s.scalar(select(Asset.brand_id).where(Asset.id == asset_id))
        if brand_id is None:
            raise NotFoundError(f"no asset with id {asset_id}")
        return int(brand_id), asset_id

    return _erase(ws, principal, ErasureKind.ASSET, locate,
                  lambda s, k: eq.erase_asset_rows(session=s, asset_ids=[int(k)]))


def erase_campaign(ws: Workspace, principal: Principal, *, brand: str,
                   name: str) -> ErasureReceipt:
    """Erase a campaign and every asset in it (see :func:`erase_asset`)."""
    def locate(s: Session) -> tuple[int, object]:
        b = get_brand(s, name=brand)
        cid = s.scalar(select(Campaign.id).where(Campaign.brand_id == b.id,
                                                 Campaign.name == name))
        if cid is None:
            raise NotFoundError(f"unknown campaign {name!r} of {b.name}")
        return b.id, int(cid)

    return _erase(ws, principal, ErasureKind.CAMPAIGN, locate,
                  lambda s, k: eq.erase_campaign_rows(session=s, campaign_id=int(k)))


def find_channel_id(s: Session, *, brand_id: int, name: str) -> int:
    """A brand's channel by ``platform:handle`` or by its handle alone (when one matches).

    Raises:
        NotFoundError: none, or a handle on several platforms.
    """
    channels = list(s.scalars(select(Channel).where(Channel.brand_id == brand_id)))
    hits = [c for c in channels if name in (c.label, c.handle)]
    if len(hits) != 1:
        known = ", ".join(sorted(c.label for c in channels)) or "none"
        why = "several channels have that handle; name it as platform:handle" if hits \
            else "unknown channel"
        raise NotFoundError(f"{why} {name!r} (channels: {known})")
    return hits[0].id


def erase_channel(ws: Workspace, principal: Principal, *, brand: str,
                  name: str) -> ErasureReceipt:
    """Erase a channel (``platform:handle`` or the handle) and every asset posted there."""
    def locate(s: Session) -> tuple[int, object]:
        b = get_brand(s, name=brand)
        return b.id, find_channel_id(s, brand_id=b.id, name=name)

    return _erase(ws, principal, ErasureKind.CHANNEL, locate,
                  lambda s, k: eq.erase_channel_rows(session=s, channel_id=int(k)))


def erase_brand(ws: Workspace, principal: Principal, *, name: str) -> ErasureReceipt:
    """Erase a whole brand: assets and media, ambassadors, campaigns, channels, members."""
    def locate(s: Session) -> tuple[int, object]:
        b = get_brand(s, name=name)
        return b.id, b.id

    return _erase(ws, principal, ErasureKind.BRAND, locate,
                  lambda s, k: eq.erase_brand_rows(session=s, brand_id=int(k)))


def withdraw_consent(ws: Workspace, principal: Principal, *, brand: str,
                     name: str) -> ErasureReceipt:
    """Withdraw an ambassador's consent to recognition: the consent is marked withdrawn,
    their references and the embeddings and crops of faces matched to them are erased and
    machine matches detached (reviewers' verdicts and the ambassador record stay; their
    faces are blurred in exports from now on).

    Raises:
        NotFoundError: unknown brand or ambassador.
        ConsentError: no current consent to withdraw.
        AccessDenied: the principal is no admin of the brand.
    """
    def locate(s: Session) -> tuple[int, object]:
        amb = find_ambassador(session=s, brand=get_brand(s, name=brand), name=name)
        return amb.brand_id, amb.id

    def rows(s: Session, key: object) -> eq.Removed:
        n = withdraw_consent_rows(session=s, ambassador_id=int(key), at=datetime.now(UTC))
        removed = eq.erase_biometrics(session=s, ambassador_id=int(key))
        removed.counts["consents_withdrawn"] += n
        return removed

    return _erase(ws, principal, ErasureKind.CONSENT_WITHDRAWAL, locate, rows)


def record_consent(ws: Workspace, principal: Principal, *, brand: str, name: str,
                   consent: Consent) -> int:
    """Record a consent for an existing ambassador (an admin of the brand); its id.

    Raises:
        NotFoundError: unknown brand or ambassador.
        AccessDenied: the principal is no admin of the brand.
    """
    with ws.sessions.begin() as s:
        amb = find_ambassador(session=s, brand=get_brand(s, name=brand), name=name)
        principal.require(Permission.ERASE, amb.brand_id, what="recording consent")
        row = cq.record_consent(session=s, ambassador_id=amb.id, consent=consent,
                                recorded_by=principal.label)
        return row.id


__all__ = ["ErasureReceipt", "erase_ambassador", "erase_asset", "erase_brand",
           "erase_campaign", "erase_channel", "erase_face", "find_channel_id",
           "matched_faces_setting", "record_consent", "withdraw_consent"]
