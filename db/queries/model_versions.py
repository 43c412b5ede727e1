"""Emotion model versions a team trained or adapted, and the reviewed faces they learn from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brandmood.core.types import Emotion
from db.models import Asset, Face, Frame, ModelVersion
from db.queries.consensus import consensus_reviews
from db.queries.core import NotFoundError
from db.queries.faces import StoredFace, stored_faces


@dataclass(frozen=True)
class ReviewedFace:
    """A stored face with the consensus label of its reviews."""

    face: StoredFace
    label: Emotion

    @property
    def group(self) -> str:
        """The person (a matched ambassador, unless rejected) or else the asset, for
        held-out splits: ``"ambassador:<id>"`` or ``"asset:<id>"``."""
        f = self.face
        person = f.ambassador_id if f.ambassador_confirmed is not False else None
        return f"ambassador:{person}" if person is not None else f"asset:{f.asset_id}"


def reviewed_faces(*, session: Session, brand_id: int | None = None) -> list[ReviewedFace]:
    """Every face whose reviews agree on a label (their consensus: pending and disputed
    faces never train; :mod:`db.queries.consensus`), by asset and time."""
    rv = consensus_reviews()
    q = stored_faces().add_columns(rv.c.label).join(rv, rv.c.face_id == Face.id)
    if brand_id is not None:
        q = q.where(Asset.brand_id == brand_id)
    q = q.order_by(Face.asset_id, Frame.timestamp_ms, Face.id)
    return [ReviewedFace(StoredFace.of(face, ts, kind, path), Emotion(label))
            for face, ts, kind, path, label in session.execute(q)]


def next_version(*, session: Session, name: str) -> str:
    """The next version number of ``name`` ("1", "2", …)."""
    n = session.scalar(select(func.count(ModelVersion.id)).where(ModelVersion.name == name))
    return str(int(n or 0) + 1)


def record_version(*, session: Session, name: str, version: str, base_model: str, path: str,
                   weights_sha256: str, labels: Sequence[str], metrics: dict,
                   active: bool = False) -> ModelVersion:
    """Record a new model version with its held-out metrics.

    Raises:
        ValueError: if ``name``/``version`` already exists or the sha256 is malformed.
    """
    if len(weights_sha256) != 64:
        raise ValueError(f"weights_sha256 must be 64 hex characters, got {weights_sha256!r}")
    if session.scalar(select(ModelVersion).where(ModelVersion.name == name,
                                                 ModelVersion.version == version)):
        raise ValueError(f"model version {name}@{version} already exists")
    row = ModelVersion(name=name, version=version, base_model=base_model, path=path,
                       weights_sha256=weights_sha256, labels=list(labels), metrics=dict(metrics),
                       active=False)
    session.add(row)
    session.flush()
    if active:
        set_active(session=session, version_id=row.id)
    return row


def list_versions(*, session: Session, name: str | None = None) -> Sequence[ModelVersion]:
    """Model versions, newest first."""
    q = select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
    if name is not None:
        q = q.where(ModelVersion.name == name)
    return session.scalars(q).all()


def get_version(*, session: Session, version_id: int) -> ModelVersion:
    """One model version.

    Raises:
        NotFoundError: if there is none.
    """
    row = session.get(ModelVersion, version_id)
    if row is None:
        raise NotFoundError(f"no model version with id {version_id}")
    return row


def set_active(*, session: Session, version_id: int | None) -> ModelVersion | None:
    """Make one version the one the dashboards use (None: back to the default model).

    Also stores its manifest path as the workspace's default model setting, so analysis
    and re-analysis use it.
    """
    from db.queries.review import SettingKey, set_setting

    row = None if version_id is None else get_version(session=session, version_id=version_id)
    for other in session.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))):
        other.active = False
    if row is not None:
        row.active = True
    from brandmood.core.settings import DEFAULT_MODEL

    set_setting(session=session, key=SettingKey.DEFAULT_MODEL,
                value=row.path if row is not None else DEFAULT_MODEL)
    session.flush()
    return row


def active_version(*, session: Session) -> ModelVersion | None:
    """The version the dashboards use, if any."""
    return session.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))
