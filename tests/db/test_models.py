"""Every constraint of the schema, enforced by the database itself, on both backends."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from brandmood.core.types import Emotion
from db.models import (
    AnalysisRun,
    Asset,
    AssetKind,
    AssetStatus,
    Brand,
    Campaign,
    Channel,
    Face,
    Frame,
    IngestItem,
    IngestRun,
    Outcome,
    Platform,
    Review,
)
from db.queries.core import get_or_create_brand
from db.workspace import Workspace

SHA = "a" * 64


def _asset(brand_id: int, **kw) -> Asset:
    fields = dict(brand_id=brand_id, kind=AssetKind.IMAGE, source_uri="x.jpg", sha256=SHA,
                  media_path="aa/aa/x.jpg")
    fields.update(kw)
    return Asset(**fields)


def _face(frame: Frame, run: AnalysisRun, **kw) -> Face:
    fields = dict(frame_id=frame.id, run_id=run.id, asset_id=frame.asset_id, x1=0, y1=0,
                  x2=10, y2=10, det_score=0.99)
    fields.update(kw)
    return Face(**fields)


def _rejects(ws: Workspace, *objs, exc=IntegrityError) -> None:
    with ws.session() as s:
        s.add_all(objs)
        with pytest.raises(exc):
            s.flush()
        s.rollback()


@pytest.fixture
def base(any_ws: Workspace):
    """A brand, an asset, a frame and a run committed in the store."""
    with any_ws.session() as s:
        brand = get_or_create_brand(s, name="Acme")
        asset = _asset(brand.id)
        s.add(asset)
        s.flush()
        frame = Frame(asset_id=asset.id, timestamp_ms=0)
        run = AnalysisRun(model_name="m", model_version="1")
        s.add_all([frame, run])
        s.commit()
        return any_ws, brand, asset, frame, run


def test_brand_name_unique_and_not_empty(base) -> None:
    ws, *_ = base
    _rejects(ws, Brand(name="Acme"))
    _rejects(ws, Brand(name=""))


def test_campaign_unique_per_brand_and_dates_ordered(base) -> None:
    ws, brand, *_ = base
    with ws.session() as s:
        s.add(Campaign(brand_id=brand.id, name="Spring"))
        s.commit()
    _rejects(ws, Campaign(brand_id=brand.id, name="Spring"))
    _rejects(ws, Campaign(brand_id=brand.id, name="Bad", starts_on=date(2026, 5, 1),
                          ends_on=date(2026, 4, 1)))


def test_channel_platform_is_checked_and_unique(base) -> None:
    ws, brand, *_ = base
    with ws.session() as s:
        s.add(Channel(brand_id=brand.id, platform=Platform.INSTAGRAM, handle="acme"))
        s.commit()
    _rejects(ws, Channel(brand_id=brand.id, platform=Platform.INSTAGRAM, handle="acme"))
    _rejects(ws, Channel(brand_id=brand.id, platform="myspace", handle="acme"),
             exc=(StatementError, IntegrityError, LookupError))


def test_asset_sha_unique_per_brand_but_not_across_brands(base) -> None:
    ws, brand, *_ = base
    _rejects(ws, _asset(brand.id))
    with ws.session() as s:
        other = get_or_create_brand(s, name="Other")
        s.add(_asset(other.id))
        s.commit()
        assert s.scalar(select(Asset).where(Asset.brand_id == other.id)).sha256 == SHA


@pytest.mark.parametrize("field,value", [
    ("sha256", "abc"), ("likes", -1), ("comments", -1), ("shares", -1), ("views", -5)])
def test_asset_value_checks(base, field, value) -> None:
    ws, brand, *_ = base
    _rejects(ws, _asset(brand.id, **{"sha256": "b" * 64, field: value}))


def test_failed_asset_needs_a_reason(base) -> None:
    ws, brand, *_ = base
    _rejects(ws, _asset(brand.id, sha256="c" * 64, status=AssetStatus.FAILED))
    with ws.session() as s:
        s.add(_asset(brand.id, sha256="c" * 64, status=AssetStatus.FAILED, error="corrupt"))
        s.commit()


def test_frame_unique_per_timestamp_and_nonnegative(base) -> None:
    ws, _, asset, *_ = base
    _rejects(ws, Frame(asset_id=asset.id, timestamp_ms=0))
    _rejects(ws, Frame(asset_id=asset.id, timestamp_ms=-1))


@pytest.mark.parametrize("kw", [
    {"x2": -1}, {"det_score": 1.5}, {"confidence": 2.0}, {"p_happy": 1.2},
    {"p_contempt": -0.1}])
def test_face_value_checks(base, kw) -> None:
    ws, _, _, frame, run = base
    _rejects(ws, _face(frame, run, **kw))


def test_face_probabilities_may_be_null_and_cascade_with_asset(base) -> None:
    ws, _, asset, frame, run = base
    with ws.session() as s:
        face = _face(frame, run, p_happy=0.9, p_neutral=0.1, dominant=Emotion.HAPPY,
                     confidence=0.9)
        s.add(face)
        s.flush()
        s.add(Review(face_id=face.id, label=Emotion.CONTEMPT, reviewer="ana"))
        s.commit()
        stored = s.get(Face, face.id)
        assert stored.probs()[1] == pytest.approx(0.9)
        assert stored.p_contempt is None
        s.delete(s.get(Asset, asset.id))
        s.commit()
        assert s.scalar(select(Face)) is None
        assert s.scalar(select(Review)) is None
        assert s.scalar(select(Frame)) is None


def test_foreign_keys_enforced(base) -> None:
    ws, *_ = base
    _rejects(ws, Frame(asset_id=999_999, timestamp_ms=5))


def test_ingest_items_one_per_source_and_failed_needs_reason(base) -> None:
    ws, brand, asset, *_ = base
    with ws.session() as s:
        run = IngestRun(brand_id=brand.id, source_kind="files", source="/x")
        s.add(run)
        s.flush()
        s.add(IngestItem(run_id=run.id, source="a.jpg", outcome=Outcome.STORED,
                         asset_id=asset.id))
        s.commit()
        run_id = run.id
    _rejects(ws, IngestItem(run_id=run_id, source="a.jpg", outcome=Outcome.DUPLICATE,
                            asset_id=asset.id))
    _rejects(ws, IngestItem(run_id=run_id, source="b.jpg", outcome=Outcome.FAILED))


def test_one_review_per_reviewer_and_face(base) -> None:
    ws, _, _, frame, run = base
    with ws.session() as s:
        face = _face(frame, run)
        s.add(face)
        s.commit()
        s.add_all([Review(face_id=face.id, label=Emotion.SAD, reviewer="ana"),
                   Review(face_id=face.id, label=Emotion.SAD, reviewer="bo")])
        s.commit()  # two reviewers: fine
        face_id = face.id
    _rejects(ws, Review(face_id=face_id, label=Emotion.HAPPY, reviewer="ana"))
