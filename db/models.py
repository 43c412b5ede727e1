"""SQLAlchemy 2 typed models of the brandmood store.

Enums are stored as short strings with CHECK constraints (``native_enum=False``) so the
same schema and migrations run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from brandmood.core.access import Role
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.core.types import Emotion


def utcnow() -> datetime:
    """Timezone-aware now (UTC)."""
    return datetime.now(UTC)


class Platform(enum.StrEnum):
    """Where a channel lives."""

    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    YOUTUBE = "youtube"
    TIKTOK = "tiktok"
    X = "x"
    LINKEDIN = "linkedin"
    RSS = "rss"
    WEB = "web"
    UPLOAD = "upload"


class AssetKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class AssetStatus(enum.StrEnum):
    """Where an asset is in its life: stored, then analyzed, or failed with a reason."""

    PENDING = "pending"
    ANALYZED = "analyzed"
    FAILED = "failed"


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Outcome(enum.StrEnum):
    """What became of one ingest candidate: exactly one of these."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    FAILED = "failed"


def _enum(cls: type[enum.Enum], name: str, length: int = 16) -> Enum:
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=length,
                values_callable=lambda e: [m.value for m in e], validate_strings=True)


TZDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints."""

    from sqlalchemy import MetaData

    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class Brand(Base):
    __tablename__ = "brand"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    __table_args__ = (CheckConstraint("length(name) > 0", name="name_not_empty"),)


class Campaign(Base):
    __tablename__ = "campaign"
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    objective: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("brand_id", "name"),
        CheckConstraint("ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on",
                        name="dates_ordered"),
    )


class Channel(Base):
    __tablename__ = "channel"
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    handle: Mapped[str] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("brand_id", "platform", "handle"),)

    @property
    def label(self) -> str:
        return f"{self.platform.value}:{self.handle}"


class Ambassador(Base):
    __tablename__ = "ambassador"
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    handles: Mapped[list] = mapped_column(JSON, default=list)
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    consents: Mapped[list[AmbassadorConsent]] = relationship(
        back_populates="ambassador", order_by="AmbassadorConsent.id",
        cascade="all, delete-orphan", passive_deletes=True)

    @property
    def consent(self) -> AmbassadorConsent | None:
        """The current consent to recognition (the latest one not withdrawn), or None.

        The attribute :data:`db.queries.privacy.CONSENT_ATTRIBUTE` names: exports show a
        face unblurred, and enrolment and matching use the ambassador, only while it is set.
        """
        current = [c for c in self.consents if c.withdrawn_at is None]
        return current[-1] if current else None


class AmbassadorConsent(Base):
    """An ambassador's consent to face recognition (issue 14): who consented, when, and on
    what basis (a reference to the contract or consent form), and when it was withdrawn."""

    __tablename__ = "ambassador_consent"
    id: Mapped[int] = mapped_column(primary_key=True)
    ambassador_id: Mapped[int] = mapped_column(
        ForeignKey("ambassador.id", ondelete="CASCADE"), index=True)
    given_by: Mapped[str] = mapped_column(String(200))
    """Who consented: the ambassador, or who signed for them."""
    basis: Mapped[str] = mapped_column(Text)
    """The contract or consent form it rests on (a reference, e.g. "contract 2026-014 §7")."""
    consented_at: Mapped[datetime] = mapped_column(TZDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    recorded_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    __table_args__ = (
        CheckConstraint("length(given_by) > 0", name="given_by_not_empty"),
        CheckConstraint("length(basis) > 0", name="basis_not_empty"),
    )

    ambassador: Mapped[Ambassador] = relationship(back_populates="consents")


class Asset(Base):
    """One stored creative (image or video), once per brand per content hash."""

    __tablename__ = "asset"
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AssetKind] = mapped_column(_enum(AssetKind, "asset_kind"))
    source_uri: Mapped[str] = mapped_column(Text)
    permalink: Mapped[str | None] = mapped_column(Text)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel.id", ondelete="SET NULL"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="SET NULL"), index=True)
    ambassador_id: Mapped[int | None] = mapped_column(
        ForeignKey("ambassador.id", ondelete="SET NULL"), index=True)
    posted_at: Mapped[datetime | None] = mapped_column(TZDateTime, index=True)
    caption: Mapped[str | None] = mapped_column(Text)
    likes: Mapped[int | None] = mapped_column(Integer)
    comments: Mapped[int | None] = mapped_column(Integer)
    shares: Mapped[int | None] = mapped_column(Integer)
    views: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    phash: Mapped[str | None] = mapped_column(String(16))
    near_duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL"))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    orientation: Mapped[int | None] = mapped_column(Integer)
    media_path: Mapped[str] = mapped_column(Text)
    status: Mapped[AssetStatus] = mapped_column(_enum(AssetStatus, "asset_status"),
                                                default=AssetStatus.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    media_removed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    """When the retention policy removed the media file, thumbnails and crops (the face rows
    and counts stay); None while the media are kept."""

    __table_args__ = (
        UniqueConstraint("brand_id", "sha256"),
        CheckConstraint("length(sha256) = 64", name="sha256_len"),
        CheckConstraint("likes IS NULL OR likes >= 0", name="likes_nonneg"),
        CheckConstraint("comments IS NULL OR comments >= 0", name="comments_nonneg"),
        CheckConstraint("shares IS NULL OR shares >= 0", name="shares_nonneg"),
        CheckConstraint("views IS NULL OR views >= 0", name="views_nonneg"),
        CheckConstraint("status != 'failed' OR error IS NOT NULL", name="failed_has_reason"),
        Index("ix_asset_brand_posted", "brand_id", "posted_at"),
        # Covering index of the dashboard's summary path (with asset_face_counts): every
        # asset column a default-view page reads, so no asset row is visited.
        Index("ix_asset_dashboard", "brand_id", "posted_at", "status", "campaign_id",
              "channel_id", "likes", "comments", "shares", "views"),
    )

    channel: Mapped[Channel | None] = relationship()
    campaign: Mapped[Campaign | None] = relationship()
    ambassador: Mapped[Ambassador | None] = relationship()


class AssetPost(Base):
    """Every post that used an asset: the first one and each exact duplicate after it."""

    __tablename__ = "asset_post"
    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"), index=True)
    source_uri: Mapped[str] = mapped_column(Text)
    permalink: Mapped[str | None] = mapped_column(Text)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    posted_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class AnalysisRun(Base):
    """One pass of a detector + classifier over assets, with everything to reproduce it."""

    __tablename__ = "analysis_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(100))
    weights_sha256: Mapped[str] = mapped_column(String(64), default="")
    detector: Mapped[str] = mapped_column(String(100), default="")
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "run_status"),
                                              default=RunStatus.RUNNING)
    n_assets: Mapped[int] = mapped_column(Integer, default=0)
    n_faces: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    timings: Mapped[dict] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class AssetAnalysis(Base):
    """The outcome of one asset in one analysis run (what makes a job resumable)."""

    __tablename__ = "asset_analysis"
    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"),
                                        index=True)
    status: Mapped[AssetStatus] = mapped_column(_enum(AssetStatus, "asset_status"))
    error: Mapped[str | None] = mapped_column(Text)
    n_frames: Mapped[int] = mapped_column(Integer, default=0)
    n_faces: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    __table_args__ = (UniqueConstraint("asset_id", "run_id"),)


class Frame(Base):
    """A still image (timestamp 0) or one sampled video frame."""

    __tablename__ = "frame"
    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"))
    timestamp_ms: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        UniqueConstraint("asset_id", "timestamp_ms"),
        CheckConstraint("timestamp_ms >= 0", name="timestamp_nonneg"),
    )


_PROB_COLUMNS = tuple(f"p_{e.value}" for e in Emotion)


class Face(Base):
    """One face in one frame, as one analysis run saw it."""

    __tablename__ = "face"
    id: Mapped[int] = mapped_column(primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frame.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"))
    # Denormalized for GROUP BY speed on the dashboard (asset filters without a join chain).
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"))
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    det_score: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list | None] = mapped_column(JSON)
    p_neutral: Mapped[float | None] = mapped_column(Float)
    p_happy: Mapped[float | None] = mapped_column(Float)
    p_sad: Mapped[float | None] = mapped_column(Float)
    p_surprise: Mapped[float | None] = mapped_column(Float)
    p_fear: Mapped[float | None] = mapped_column(Float)
    p_anger: Mapped[float | None] = mapped_column(Float)
    p_disgust: Mapped[float | None] = mapped_column(Float)
    p_contempt: Mapped[float | None] = mapped_column(Float)
    dominant: Mapped[Emotion | None] = mapped_column(_enum(Emotion, "emotion"))
    confidence: Mapped[float | None] = mapped_column(Float)
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False)
    track_id: Mapped[int | None] = mapped_column(Integer)
    ambassador_id: Mapped[int | None] = mapped_column(
        ForeignKey("ambassador.id", ondelete="SET NULL"), index=True)
    ambassador_distance: Mapped[float | None] = mapped_column(Float)
    # None: machine match only; True: a reviewer confirmed it; False: a reviewer rejected it.
    ambassador_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    # Fairness check (issue 14): the individual typology angle of the face crop's skin, in
    # degrees (analytics.fairness); an appearance measure of this crop (lighting, filters),
    # never a person attribute. None: not estimated (yet).
    ita: Mapped[float | None] = mapped_column(Float)
    __table_args__ = (
        CheckConstraint("x2 >= x1 AND y2 >= y1", name="box_ordered"),
        CheckConstraint("det_score >= 0 AND det_score <= 1", name="det_score_range"),
        CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)",
                        name="confidence_range"),
        *(CheckConstraint(f"{c} IS NULL OR ({c} >= 0 AND {c} <= 1)", name=f"{c}_range")
          for c in _PROB_COLUMNS),
        Index("ix_face_run_asset", "run_id", "asset_id"),
        # Covering index for the dashboard: per-asset face aggregates without table reads.
        Index("ix_face_asset_run", "asset_id", "run_id", "dominant", "uncertain", "confidence",
              "ambassador_id", "ambassador_confirmed"),
    )

    def probs(self) -> list[float | None]:
        """The eight probabilities in :data:`brandmood.core.types.EMOTIONS` order."""
        return [getattr(self, c) for c in _PROB_COLUMNS]


_LABEL_VALUES = (*(e.value for e in Emotion), "uncertain")


class AssetFaceCounts(Base):
    """Per-asset face counts of the asset's current run (its latest analyzed one).

    A summary the dashboard's default view reads instead of scanning ``face``: one row per
    asset with an analyzed run, kept current by the analysis job in the same transaction
    as the faces (``db.queries.analysis.refresh_face_counts``). Counted faces are those with
    a label; ``n_uncertain`` counts the flagged ones, each ``n_<emotion>`` the others, and
    ``dominant`` is the label with the most faces (first in label order on a tie; None
    without faces). Nothing here depends on identity (ambassador) columns.
    """

    __tablename__ = "asset_face_counts"
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"),
                                          primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"),
                                        index=True)
    n_faces: Mapped[int] = mapped_column(Integer, default=0)
    n_neutral: Mapped[int] = mapped_column(Integer, default=0)
    n_happy: Mapped[int] = mapped_column(Integer, default=0)
    n_sad: Mapped[int] = mapped_column(Integer, default=0)
    n_surprise: Mapped[int] = mapped_column(Integer, default=0)
    n_fear: Mapped[int] = mapped_column(Integer, default=0)
    n_anger: Mapped[int] = mapped_column(Integer, default=0)
    n_disgust: Mapped[int] = mapped_column(Integer, default=0)
    n_contempt: Mapped[int] = mapped_column(Integer, default=0)
    n_uncertain: Mapped[int] = mapped_column(Integer, default=0)
    dominant: Mapped[str | None] = mapped_column(String(16))
    __table_args__ = (
        CheckConstraint("n_faces >= 0", name="n_faces_nonneg"),
        CheckConstraint("dominant IS NULL OR dominant IN ("
                        + ", ".join(f"'{v}'" for v in _LABEL_VALUES) + ")",
                        name="dominant_label"),
    )


class Review(Base):
    """A person's verdict on a face: the label they say is right.

    A face has at most one review per reviewer (relabeling updates it); the label a face
    counts under is the consensus of its reviews (:mod:`db.queries.consensus`).
    """

    __tablename__ = "review"
    __table_args__ = (UniqueConstraint("face_id", "reviewer"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("face.id", ondelete="CASCADE"), index=True)
    label: Mapped[Emotion] = mapped_column(_enum(Emotion, "emotion"))
    reviewer: Mapped[str] = mapped_column(String(200))
    """Who reviewed: the signed-in user's email or subject, the name a local admin typed
    (else ``"local admin"``), or ``"legacy"`` for reviews from before multi-review."""
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class IngestRun(Base):
    """One ingest job: a source turned into candidates, each with one outcome."""

    __tablename__ = "ingest_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    source_kind: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "run_status"),
                                              default=RunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class IngestItem(Base):
    """The outcome of one candidate of an ingest run."""

    __tablename__ = "ingest_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_run.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(Text)
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome, "outcome"))
    reason: Mapped[str | None] = mapped_column(Text)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("asset.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    __table_args__ = (
        UniqueConstraint("run_id", "source"),
        CheckConstraint("outcome != 'failed' OR reason IS NOT NULL", name="failed_has_reason"),
    )


class Setting(Base):
    """Workspace settings editable from the dashboard (default model, thresholds)."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class FaceEmbedding(Base):
    """A face's identity embedding (e.g. dlib's 128-d ResNet), float32 bytes."""

    __tablename__ = "face_embedding"
    id: Mapped[int] = mapped_column(primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("face.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(100))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (UniqueConstraint("face_id", "model"),)


class AmbassadorReference(Base):
    """One enrolled reference face of an ambassador."""

    __tablename__ = "ambassador_reference"
    id: Mapped[int] = mapped_column(primary_key=True)
    ambassador_id: Mapped[int] = mapped_column(ForeignKey("ambassador.id", ondelete="CASCADE"),
                                               index=True)
    model: Mapped[str] = mapped_column(String(100))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(Text, default="")
    face_id: Mapped[int | None] = mapped_column(ForeignKey("face.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class ModelVersion(Base):
    """An emotion model version a team trained or adapted, with its held-out metrics."""

    __tablename__ = "model_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    base_model: Mapped[str] = mapped_column(String(100), default="")
    path: Mapped[str] = mapped_column(Text)
    weights_sha256: Mapped[str] = mapped_column(String(64))
    labels: Mapped[list] = mapped_column(JSON, default=list)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("name", "version"),)


# ---------------------------------------------------------------- access: users and roles


class User(Base):
    """A person who may sign in: known by the identity provider's subject, or by email
    until their first sign-in binds the subject (the Members page invites by either)."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    """Lower case."""
    display_name: Mapped[str] = mapped_column(String(200), default="")
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    __table_args__ = (
        CheckConstraint("subject IS NOT NULL OR email IS NOT NULL", name="has_identity"),
        CheckConstraint("email IS NULL OR email = lower(email)", name="email_lower"),
    )


class Membership(Base):
    """A user's role in one brand."""

    __tablename__ = "membership"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"),
                                          index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "member_role"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("user_id", "brand_id"),)


# --- Job queue (issue 12): analysis off the request path, run by `brandmood worker` ---------


class JobKind(enum.StrEnum):
    """What a queued job does (every kind analyzes the assets its arguments name)."""

    UPLOAD = "upload"
    """The analysis of a dashboard upload whose files the page already stored (ingested)."""
    ANALYZE = "analyze"
    """Analyze given assets (``asset_ids``) or every pending one (``asset_ids`` null)."""
    REANALYZE = "reanalyze"
    """Analyze again assets whose analysis failed (reset to pending when enqueued)."""


class JobStatus(enum.StrEnum):
    """A job's life: queued → running → done or failed (a released job is queued again)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """One unit of background work, claimed by one worker at a time under a lease.

    A running job whose ``lease_until`` has passed (its worker died) is claimable again;
    ``attempts`` counts the claims, ``done``/``total``/``message`` are its progress.
    """

    __tablename__ = "job"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind, "job_kind"))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id", ondelete="SET NULL"),
                                                 index=True)
    arguments: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "job_status"),
                                              default=JobStatus.QUEUED)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(TZDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    enqueued_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    __table_args__ = (
        Index("ix_job_status_id", "status", "id"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        CheckConstraint("status != 'failed' OR error IS NOT NULL", name="failed_has_reason"),
        CheckConstraint("status != 'running' OR (claimed_by IS NOT NULL AND "
                        "lease_until IS NOT NULL)", name="running_is_claimed"),
    )


class JobWorker(Base):
    """A ``brandmood worker`` process: its heartbeat says it is alive."""

    __tablename__ = "job_worker"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    engine: Mapped[str] = mapped_column(String(100), default="")
    job_id: Mapped[int | None] = mapped_column(Integer)
    """The job it runs now (no foreign key: a deleted job must not block a heartbeat)."""
    started_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(TZDateTime)


# --- Audit trail (issue 13): who did what, when, in which brand; append-only -------------


class AuditEvent(Base):
    """One recorded action. Rows are only ever inserted: the code has no update or delete
    for them, and the migration adds triggers that reject UPDATE and DELETE (SQLite and
    PostgreSQL alike).

    ``brand_id`` has no foreign key and ``brand`` keeps the brand's name, so that erasing
    a brand keeps the record of what was done in it.
    """

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    """A signed-in user's email or subject, ``os:<user>`` (CLI), ``local admin``, ``system``."""
    brand_id: Mapped[int | None] = mapped_column(Integer)
    brand: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[AuditAction] = mapped_column(_enum(AuditAction, "audit_action", 32))
    object_kind: Mapped[ObjectKind | None] = mapped_column(_enum(ObjectKind, "audit_object", 32))
    object_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_brand_id_at", "brand_id", "at"),
        Index("ix_audit_events_actor_action_at", "actor", "action", "at"),
    )


# --- Rollups (issue 12): pre-aggregated counts the dashboard pages read --------------------
# Kept exact by db.queries.rollups. Keys never hold NULL (so they can be primary keys and
# upsert targets on both backends): 0 is "none" for an id, "" for a day or a label, -1 for
# a missing metric value. No foreign keys on the group ids: a rollup row outlives nothing
# by itself, it is rewritten from the face rows whenever its cell changes.

NO_ID = 0
"""Rollup key of a NULL campaign, channel or ambassador id."""
NO_DAY = ""
"""Rollup key of an undated asset (and of a missing dominant label)."""
NO_VALUE = -1.0
"""Rollup key of a NULL engagement metric (metrics are never negative)."""
CLUSTERED = {"sqlite_with_rowid": False}
"""SQLite stores a rollup in its key's order: a brand's rows are one sequential range."""


class RollupFaces(Base):
    """Counted faces (model labels, current run) per brand, posting day, campaign, channel
    and face ambassador (:func:`db.queries.selection.ambassador_key`): one count column
    per label, like :class:`AssetFaceCounts` (a pivot: a page sums columns of a few
    thousand rows)."""

    __tablename__ = "rollup_faces"
    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ambassador_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_neutral: Mapped[int] = mapped_column(Integer, default=0)
    n_happy: Mapped[int] = mapped_column(Integer, default=0)
    n_sad: Mapped[int] = mapped_column(Integer, default=0)
    n_surprise: Mapped[int] = mapped_column(Integer, default=0)
    n_fear: Mapped[int] = mapped_column(Integer, default=0)
    n_anger: Mapped[int] = mapped_column(Integer, default=0)
    n_disgust: Mapped[int] = mapped_column(Integer, default=0)
    n_contempt: Mapped[int] = mapped_column(Integer, default=0)
    n_uncertain: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = CLUSTERED


class RollupAssets(Base):
    """Assets per brand, posting day, campaign, channel, analyzed or not, current analysis
    run (0: none) and dominant label of their counted faces with (``dominant``) and
    without (``dominant_certain``) the uncertain ones (``""``: no such face)."""

    __tablename__ = "rollup_assets"
    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analyzed: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dominant: Mapped[str] = mapped_column(String(16), primary_key=True)
    dominant_certain: Mapped[str] = mapped_column(String(16), primary_key=True)
    n_assets: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (CheckConstraint("n_assets > 0", name="n_assets_pos"),
                      CLUSTERED)


class RollupEngagement(Base):
    """Assets with a counted face per brand, campaign, channel, dominant labels (as in
    :class:`RollupAssets`), engagement metric and its value: the exact histograms behind
    the engagement means, medians and intervals (all time; no day)."""

    __tablename__ = "rollup_engagement"
    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dominant: Mapped[str] = mapped_column(String(16), primary_key=True)
    dominant_certain: Mapped[str] = mapped_column(String(16), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[float] = mapped_column(Float, primary_key=True)
    n_assets: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = CLUSTERED


class RollupAssetState(Base):
    """What each asset last contributed to the rollups (the ledger that makes a refresh
    exact after an update or a deletion: the old cell and values are read here)."""

    __tablename__ = "rollup_asset_state"
    asset_id: Mapped[int] = mapped_column(Integer, primary_key=True,  # outlives its asset
                                          autoincrement=False)
    brand_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[str] = mapped_column(String(10))
    campaign_id: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[int] = mapped_column(Integer)
    analyzed: Mapped[bool] = mapped_column(Boolean)
    run_id: Mapped[int] = mapped_column(Integer)
    dominant: Mapped[str] = mapped_column(String(16))
    dominant_certain: Mapped[str] = mapped_column(String(16))
    likes: Mapped[float] = mapped_column(Float)
    comments: Mapped[float] = mapped_column(Float)
    shares: Mapped[float] = mapped_column(Float)
    views: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_rollup_asset_state_cell", "brand_id", "day", "campaign_id",
                            "channel_id"),)


# --- Erasure and retention (issue 14) ----------------------------------------------------


class ErasureKind(enum.StrEnum):
    """What an erasure (or a retention pass) removed."""

    AMBASSADOR = "ambassador"
    FACE = "face"
    ASSET = "asset"
    CAMPAIGN = "campaign"
    CHANNEL = "channel"
    BRAND = "brand"
    CONSENT_WITHDRAWAL = "consent"
    """A withdrawn consent: the ambassador's embeddings and references."""
    RETENTION = "retention"


class ErasureLog(Base):
    """The audit entry of one erasure: its receipt, which names the erased subject by an
    opaque id only (never a name, a file name or a database id)."""

    __tablename__ = "erasure_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ErasureKind] = mapped_column(_enum(ErasureKind, "erasure_kind"))
    subject: Mapped[str] = mapped_column(String(64), index=True)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    erased_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    erased_by: Mapped[str] = mapped_column(String(200), default="")
