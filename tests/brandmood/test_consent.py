"""Consent for recognition, on SQLite and PostgreSQL with real photos and the real models:
no enrolment without consent; only a consenting ambassador's matched faces keep an
embedding and stay unblurred in exports; withdrawing consent erases the references and
embeddings and blurs the faces again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from brandmood.services import erasure
from brandmood.services.access import cli_operator
from brandmood.services.analyze import run_analysis
from brandmood.services.identity import enroll_paths, match_faces
from db.models import (
    Ambassador,
    AmbassadorConsent,
    AmbassadorReference,
    ErasureKind,
    Face,
    FaceEmbedding,
)
from db.queries.consent import Consent, ConsentError
from db.queries.privacy import faces_to_blur, has_consent
from db.workspace import Workspace
from tests.brandmood.test_erasure import ANA_PHOTO, add_assets
from tests.conftest import media_file

NAME = "Zyra Quintanilla"


def blurred(ws: Workspace) -> dict[int, int]:
    with ws.session() as s:
        ids = list(s.scalars(select(Face.asset_id).distinct()))
        return {a: len(b) for a, b in faces_to_blur(session=s, asset_ids=ids).items()}


def test_consent_gates_enrolment_embeddings_and_blurring(any_ws: Workspace, analyzer, detector,
                                                         embedder) -> None:
    ws = any_ws
    own, group = add_assets(ws, "Acme", (ANA_PHOTO, "multi_face.jpg"))
    run_analysis(ws, analyzer=analyzer)
    faces_before = blurred(ws)
    with pytest.raises(ConsentError, match="enrolment refused"):
        enroll_paths(ws, brand="Acme", name=NAME, paths=[media_file(ANA_PHOTO)],
                     detector=detector, embedder=embedder)
    with ws.session() as s:
        assert s.scalars(select(Ambassador)).all() == [], "a refusal stores nothing"
        assert s.scalars(select(AmbassadorReference)).all() == []
    with pytest.raises(ConsentError, match="basis"):
        Consent(given_by=NAME, basis=" ")

    when = datetime(2026, 11, 30, tzinfo=UTC)
    enroll_paths(ws, brand="Acme", name=NAME, paths=[media_file(ANA_PHOTO)], detector=detector,
                 embedder=embedder, consent=Consent(NAME, "contract 2026-014 §7", when),
                 recorded_by="dpo@example.com")
    with ws.session() as s:
        amb = s.scalars(select(Ambassador)).one()
        record = s.scalars(select(AmbassadorConsent)).one()
        assert has_consent(amb) and amb.consent.id == record.id
        assert (record.given_by, record.basis, record.recorded_by) == (
            NAME, "contract 2026-014 §7", "dpo@example.com")
        assert record.consented_at.replace(tzinfo=UTC) == when
    summary = match_faces(ws, brand="Acme", embedder=embedder)
    with ws.session() as s:
        matched = set(s.scalars(select(Face.id).where(Face.ambassador_id == amb.id)))
        embedded = set(s.scalars(select(FaceEmbedding.face_id)))
        n_group = len(s.scalars(select(Face.id).where(Face.asset_id == group)).all())
    assert matched and summary.n_faces == len(matched) + n_group
    assert embedded == matched, "only a consenting ambassador's faces keep an embedding"
    assert blurred(ws) == {own: faces_before[own] - len(matched), group: faces_before[group]}

    receipt = erasure.withdraw_consent(ws, cli_operator(), brand="Acme", name=NAME)
    assert receipt.kind is ErasureKind.CONSENT_WITHDRAWAL
    assert receipt.counts["references"] == 1 and receipt.counts["embeddings"] == len(matched)
    assert NAME not in receipt.to_json()
    with ws.session() as s:
        amb = s.get(Ambassador, amb.id)
        assert amb is not None and not has_consent(amb)
        assert s.scalars(select(AmbassadorConsent)).one().withdrawn_at is not None
        assert s.scalars(select(AmbassadorReference)).all() == []
        assert s.scalars(select(FaceEmbedding)).all() == []
        assert s.scalars(select(Face).where(Face.ambassador_id.is_not(None))).all() == []
    assert blurred(ws) == faces_before
    again = match_faces(ws, brand="Acme", embedder=embedder)
    assert again.n_matched == 0
    with ws.session() as s:
        assert s.scalars(select(FaceEmbedding)).all() == []
    with pytest.raises(ConsentError, match="no current consent"):
        erasure.withdraw_consent(ws, cli_operator(), brand="Acme", name=NAME)
    with pytest.raises(ConsentError, match="enrolment refused"):  # withdrawn: no consent
        enroll_paths(ws, brand="Acme", name=NAME, paths=[media_file(ANA_PHOTO)],
                     detector=detector, embedder=embedder)


def test_consent_cli(ws_env) -> None:
    from typer.testing import CliRunner

    from brandmood.cli import app
    from db.models import Brand
    from db.workspace import open_workspace

    ws = open_workspace()
    with ws.sessions.begin() as s:
        s.add(Brand(name="Acme"))
    with ws.sessions.begin() as s:
        s.add(Ambassador(brand_id=s.scalar(select(Brand.id)), name="Bo", handles=[]))
    ws.close()
    runner = CliRunner()
    result = runner.invoke(app, ["consent", "withdraw", "--ambassador", "Bo", "--brand", "Acme"])
    assert result.exit_code == 2 and "without --yes" in result.output
    result = runner.invoke(app, ["consent", "withdraw", "--ambassador", "Bo", "--brand", "Acme",
                                 "--yes"])
    assert result.exit_code == 2 and "no current consent" in result.output
    result = runner.invoke(app, ["consent", "record", "--ambassador", "Bo", "--brand", "Acme",
                                 "--by", "Bo", "--basis", "form 12", "--date", "2026-13-01"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
    result = runner.invoke(app, ["consent", "record", "--ambassador", "Bo", "--brand", "Acme",
                                 "--by", "Bo", "--basis", "form 12"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["consent", "withdraw", "--ambassador", "Bo", "--brand", "Acme",
                                 "--yes", "--json"])
    assert result.exit_code == 0 and '"kind": "consent"' in result.output
