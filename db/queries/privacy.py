"""Which stored faces an export must blur: every face except a consenting ambassador's.

The one rule is :func:`is_consenting`; :func:`faces_to_blur` applies it to the faces of
the assets an export shows. Blurring itself is :func:`analytics.privacy.blur_faces`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_
from sqlalchemy.orm import Session

from brandmood.core.types import Box
from db.models import Ambassador, Face, Frame
from db.queries.faces import stored_faces
from db.queries.selection import current_runs

CONSENT_ATTRIBUTE = "consent"
"""The :class:`~db.models.Ambassador` attribute that holds the ambassador's current,
not withdrawn consent to recognition (who consented, when, on what basis), or None:
:attr:`db.models.Ambassador.consent`, from the ``ambassador_consent`` records
(:mod:`db.queries.consent`; withdrawn ones do not count). tests/brandmood/test_consent.py
checks that a consenting ambassador's matched face is the one face left unblurred.
"""


def has_consent(ambassador: Ambassador | None) -> bool:
    """The ambassador has a current consent record (see :data:`CONSENT_ATTRIBUTE`)."""
    return ambassador is not None and getattr(ambassador, CONSENT_ATTRIBUTE, None) is not None


def is_consenting(face: Face, ambassador: Ambassador | None) -> bool:
    """The face may be shown unblurred in an export.

    True only when recognition (or a reviewer) matched the face to an ambassador, no
    reviewer rejected that match, and that ambassador has a current consent record
    (:func:`has_consent`). A face on a post merely *tagged* with an ambassador is not
    matched to them and is blurred.

    Args:
        face: the face row.
        ambassador: the ambassador the face is matched to (``face.ambassador_id``'s row),
            or None.
    """
    matched = face.ambassador_id is not None and face.ambassador_confirmed is not False
    return (matched and ambassador is not None and ambassador.id == face.ambassador_id
            and has_consent(ambassador))


def faces_to_blur(*, session: Session, asset_ids: Sequence[int],
                  timestamp_ms: int = 0) -> dict[int, list[Box]]:
    """The boxes to blur in each asset's frame at ``timestamp_ms`` (0: a still image).

    The faces are those of each asset's current run (its latest analyzed one), in the
    asset's own pixels; every face that is not :func:`is_consenting` is listed. An asset
    without an analyzed run, or without faces there, maps to an empty list.
    """
    ids = sorted({int(i) for i in asset_ids})
    out: dict[int, list[Box]] = {i: [] for i in ids}
    if not ids:
        return out
    cur = current_runs(ids)
    q = (stored_faces().add_columns(Ambassador)
         .join(cur, and_(cur.c.asset_id == Face.asset_id, cur.c.run_id == Face.run_id))
         .outerjoin(Ambassador, Ambassador.id == Face.ambassador_id)
         .where(Frame.timestamp_ms == int(timestamp_ms))
         .order_by(Face.asset_id, Face.id))
    for face, _ts, _kind, _path, ambassador in session.execute(q):
        if not is_consenting(face, ambassador):
            out[face.asset_id].append((face.x1, face.y1, face.x2, face.y2))
    return out


__all__ = ["CONSENT_ATTRIBUTE", "faces_to_blur", "has_consent", "is_consenting"]
