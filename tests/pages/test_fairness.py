"""The Fairness page and its numbers, checked against a count in plain Python over the rows
this test inserts (which faces count, their group by the ITA bins, labels, reviews)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from brandmood.core.access import BrandScope
from brandmood.core.settings import load_config
from brandmood.core.types import EMOTIONS, LABELS, Emotion
from brandmood.services.fairness import fairness_report
from db.models import (
    AnalysisRun,
    Asset,
    AssetAnalysis,
    AssetKind,
    AssetStatus,
    Brand,
    Face,
    Frame,
    Review,
    RunStatus,
)
from db.queries.analysis import refresh_face_counts
from db.queries.core import get_or_create_brand
from db.queries.selection import DashboardFilters
from db.workspace import Workspace, open_workspace
from tests.conftest import media_file
from tests.pages.conftest import run_page

ANGLES = (62.0, 48.0, 55.0, 35.0, 41.0, 20.0, -5.0, -12.0, -30.0, -45.0, None)


@dataclass
class Inserted:
    """One face as the test wrote it."""

    brand: str
    current: bool          # in its asset's current run
    ita: float | None
    dominant: Emotion
    uncertain: bool
    confidence: float
    review: Emotion | None  # the newest review


def group_by_hand(angle: float | None) -> str:
    """The ITA categories as the issue states them."""
    if angle is None:
        return "not estimated"
    if angle > 55:
        return "very light"
    if angle > 41:
        return "light"
    if angle > 28:
        return "intermediate"
    if angle > 10:
        return "tan"
    if angle > -30:
        return "brown"
    return "dark"


def insert(ws: Workspace, seed: int = 14) -> list[Inserted]:
    """Two brands, an old and a current run, 160 faces with known angles, labels and
    reviews (some reviewed twice); the "brown" faces are read as angry more often."""
    rng = random.Random(seed)
    faces: list[Inserted] = []
    with ws.sessions.begin() as s:
        old = AnalysisRun(model_name="m", model_version="0", status=RunStatus.DONE)
        run = AnalysisRun(model_name="fer-mini-xception", model_version="1.0",
                          status=RunStatus.DONE)
        s.add_all([old, run])
        s.flush()
        for b, name in enumerate(("Acme", "Other")):
            brand = get_or_create_brand(s, name=name)
            stored = ws.media.put_file(media_file(("single_face.jpg", "multi_face.jpg")[b]))
            asset = Asset(brand_id=brand.id, kind=AssetKind.IMAGE, source_uri=name,
                          sha256=stored.sha256, media_path=stored.relpath,
                          status=AssetStatus.ANALYZED, posted_at=datetime(2025, 3, 1, tzinfo=UTC))
            s.add(asset)
            s.flush()
            frame = Frame(asset_id=asset.id, timestamp_ms=0)
            s.add(frame)
            s.add_all([AssetAnalysis(asset_id=asset.id, run_id=r.id,
                                     status=AssetStatus.ANALYZED) for r in (old, run)])
            s.flush()
            for i in range(80):
                faces.append(_face(s, rng, asset, frame, run if i % 10 else old, i, name))
        s.flush()
        refresh_face_counts(session=s)
    return faces


def _face(s, rng: random.Random, asset: Asset, frame: Frame, run: AnalysisRun, i: int,
          brand: str) -> Inserted:
    ita = ANGLES[i % len(ANGLES)]
    if group_by_hand(ita) == "brown" and rng.random() < 0.6:
        dominant = Emotion.ANGER
    else:
        dominant = rng.choice([e for e in EMOTIONS if e is not Emotion.CONTEMPT])
    conf = round(rng.uniform(0.3, 0.95), 3)
    uncertain = conf < 0.4
    probs = {f"p_{e.value}": (conf if e is dominant else (1 - conf) / 7) for e in EMOTIONS}
    face = Face(frame_id=frame.id, run_id=run.id, asset_id=asset.id, x1=10 + i, y1=10, x2=60 + i,
                y2=70, det_score=0.99, dominant=dominant, confidence=conf, uncertain=uncertain,
                ita=ita, **probs)
    s.add(face)
    s.flush()
    review = None
    if i % 3 == 0:  # reviewed: mostly the model's label, anger often corrected to neutral
        review = (Emotion.NEUTRAL if dominant is Emotion.ANGER and rng.random() < 0.5
                  else dominant if rng.random() < 0.7 else rng.choice(EMOTIONS))
        s.add(Review(face_id=face.id, label=review, reviewer="tester"))
        if i % 9 == 0:  # reviewed twice: agreed where both say surprise, else disputed
            s.add(Review(face_id=face.id, label=Emotion.SURPRISE, reviewer="second"))
            review = review if review is Emotion.SURPRISE else None
    return Inserted(brand, run.model_name == "fer-mini-xception", ita, dominant, uncertain,
                    conf, review)


def expected(faces: list[Inserted], brand: str) -> dict[str, dict]:
    """Per group: faces, count per label, mean confidence, accuracy and anger FP counts."""
    out: dict[str, dict] = {}
    for f in faces:
        if f.brand != brand or not f.current:
            continue
        g = out.setdefault(group_by_hand(f.ita), {
            "faces": 0, "labels": {}, "conf": [], "reviewed": 0, "right": 0,
            "not_anger": 0, "fp": 0})
        label = "uncertain" if f.uncertain else f.dominant.value
        g["faces"] += 1
        g["labels"][label] = g["labels"].get(label, 0) + 1
        g["conf"].append(f.confidence)
        if f.review is not None:
            g["reviewed"] += 1
            g["right"] += f.review is f.dominant
            if f.review is not Emotion.ANGER:
                g["not_anger"] += 1
                g["fp"] += f.dominant is Emotion.ANGER
    return out


@pytest.fixture
def fair_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    home = tmp_path / "ws"
    monkeypatch.setenv("BRANDMOOD_HOME", str(home))
    monkeypatch.delenv("BRANDMOOD_DATABASE_URL", raising=False)
    ws = open_workspace(load_config())
    faces = insert(ws)
    yield ws, faces
    ws.close()


def _brand_id(ws: Workspace, name: str) -> int:
    with ws.session() as s:
        return s.scalar(select(Brand.id).where(Brand.name == name))


def test_report_numbers_match_an_independent_count(any_ws):
    faces = insert(any_ws)
    want = expected(faces, "Acme")
    with any_ws.session() as s:
        rep = fairness_report(session=s, filters=DashboardFilters(brand_id=_brand_id(
            any_ws, "Acme"), scope=BrandScope.ALL))
    got = {g.group: g for g in rep.groups}
    assert list(got) == [g for g in ("very light", "light", "intermediate", "tan", "brown",
                                     "dark", "not estimated") if g in want]
    for name, w in want.items():
        g = got[name]
        assert g.faces == w["faces"]
        assert {s.label: s.count for s in g.shares if s.count} == w["labels"]
        assert g.mean_confidence == pytest.approx(sum(w["conf"]) / len(w["conf"]))
        assert g.reviewed == w["reviewed"]
        if w["reviewed"]:
            assert (g.accuracy.count, g.accuracy.total) == (w["right"], w["reviewed"])
        else:  # its reviewed faces are all disputed
            assert g.accuracy is None
        if w["not_anger"]:
            assert (g.anger_fpr.count, g.anger_fpr.total) == (w["fp"], w["not_anger"])
    assert rep.faces == sum(w["faces"] for w in want.values())
    assert rep.estimated == rep.faces - want["not estimated"]["faces"]
    # the "brown" faces are read as angry far more often: flagged, and higher
    brown = [f for f in rep.flags if f.group == "brown" and f.measure == "anger rate"]
    assert brown and brown[0].higher
    assert brown[0].difference.a.count == want["brown"]["labels"].get("anger", 0)


def test_fairness_page_shows_the_same_numbers(fair_home):
    _ws, faces = fair_home
    want = expected(faces, "Acme")
    at = run_page("fairness.py", query={"brand": "Acme"})
    assert at.title[0].value == "Fairness"
    assert any("not ethnicity or identity" in i.value for i in at.info)
    table = at.dataframe[0].value
    rows = {r["skin-tone group"]: r for r in table.to_dict("records")}
    assert set(rows) == set(want)
    for name, w in want.items():
        r = rows[name]
        assert r["faces"] == w["faces"]
        for label in LABELS:
            share = 100 * w["labels"].get(label, 0) / w["faces"]
            assert r[f"{label} %"] == pytest.approx(share, abs=0.051)
        assert r["reviewed"] == w["reviewed"]
        if w["reviewed"]:
            assert r["accuracy %"] == pytest.approx(100 * w["right"] / w["reviewed"],
                                                    abs=0.051)
    flags = [w.value for w in at.warning]
    assert any(f.startswith("**brown**: anger rate") and "higher" in f for f in flags), flags
    assert any("Newcombe" in c.value for c in at.caption)


def test_fairness_page_before_any_estimate(filled):
    """Faces analyzed before the estimate existed: one "not estimated" group, and the
    page says how to backfill."""
    at = run_page("fairness.py")
    assert any("fairness backfill" in i.value for i in at.info)
    (row,) = at.dataframe[0].value.to_dict("records")
    assert row["skin-tone group"] == "not estimated"
    assert not at.warning


@pytest.mark.slow
def test_fairness_page_on_the_demo_workspace(empty_home):
    """``brandmood demo`` (real media, real analysis): the page shows its faces in their
    groups, counted here from the face rows."""
    from brandmood.services.demo import load_demo

    ws = open_workspace(load_config())
    try:
        load_demo(ws, analyze=True)
        with ws.engine.connect() as conn:
            rows = conn.execute(text("SELECT ita FROM face WHERE dominant IS NOT NULL")).all()
    finally:
        ws.close()
    want: dict[str, int] = {}
    for (ita,) in rows:  # one run: every analyzed face is counted
        want[group_by_hand(ita)] = want.get(group_by_hand(ita), 0) + 1
    assert len([g for g in want if g != "not estimated"]) >= 2
    at = run_page("fairness.py")
    table = at.dataframe[0].value
    assert dict(zip(table["skin-tone group"], table["faces"], strict=True)) == want
    assert at.get("plotly_chart")
