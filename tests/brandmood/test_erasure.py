"""Erasure to the last byte, on SQLite and PostgreSQL, with real photos analyzed by the
real models, a real enrolment and real matches: after erasing an ambassador no table and
no media file holds their name, ids, embeddings or crop pixels; face counts equal a
recount from the faces; everything else is untouched. Erasing an asset, a campaign, a
channel and a brand removes the media files no other asset uses."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from brandmood.core.access import AccessDenied, Principal, PrincipalKind, Role
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.services import erasure
from brandmood.services.access import cli_operator
from brandmood.services.analyze import run_analysis
from brandmood.services.identity import enroll_paths, match_faces
from brandmood.ui.media import stored_face_crop, stored_thumbnail
from db.models import (
    Ambassador,
    AmbassadorConsent,
    AmbassadorReference,
    Asset,
    AssetAnalysis,
    AssetFaceCounts,
    AssetKind,
    AuditEvent,
    Base,
    Campaign,
    Channel,
    ErasureKind,
    ErasureLog,
    Face,
    FaceEmbedding,
    Frame,
    Platform,
    Review,
)
from db.queries.core import get_or_create_brand
from db.queries.erasure import MatchedFaces
from db.workspace import Workspace
from tests.conftest import media_file
from tests.db.test_rollups import check as rollups_equal_a_recount

NAME = "Zyra Quintanilla"
ANA_PHOTO = "0-f15-hao-ph.jpg"
ACME_PHOTOS = (ANA_PHOTO, "multi_face.jpg", "single_face.jpg")
OTHER_PHOTOS = ("single_face.jpg", "0-f1-su-ph.jpg")


def add_assets(ws: Workspace, brand: str, photos: tuple[str, ...], *,
               campaign: str | None = None, channel: str | None = None) -> list[int]:
    """The photos as image assets of ``brand`` (in a campaign / channel); their ids."""
    ids = []
    with ws.sessions.begin() as s:
        b = get_or_create_brand(s, name=brand)
        camp = chan = None
        if campaign:
            camp = Campaign(brand_id=b.id, name=campaign)
            s.add(camp)
        if channel:
            chan = Channel(brand_id=b.id, platform=Platform.INSTAGRAM, handle=channel)
            s.add(chan)
        s.flush()
        for name in photos:
            stored = ws.media.put_file(media_file(name))
            a = Asset(brand_id=b.id, kind=AssetKind.IMAGE, source_uri=name,
                      sha256=stored.sha256, media_path=stored.relpath,
                      campaign_id=camp.id if camp else None, channel_id=chan.id if chan else None)
            s.add(a)
            s.flush()
            ids.append(a.id)
    return ids


def give_consent(ws: Workspace, brand: str, name: str) -> int:
    """An ambassador with a current consent record; their id."""
    with ws.sessions.begin() as s:
        b = get_or_create_brand(s, name=brand)
        amb = Ambassador(brand_id=b.id, name=name, handles=[f"@{name.split()[0].lower()}"])
        s.add(amb)
        s.flush()
        s.add(AmbassadorConsent(ambassador_id=amb.id, given_by=name, basis="contract 2026-14 §7",
                                consented_at=datetime.now(UTC)))
        return amb.id


def make_derived(ws: Workspace) -> None:
    """Every face's crop and every asset's thumbnail, as the pages store them."""
    with ws.session() as s:
        rows = s.execute(select(Face, Frame.timestamp_ms, Asset.media_path)
                         .join(Frame, Frame.id == Face.frame_id)
                         .join(Asset, Asset.id == Face.asset_id)).all()
        paths = set(s.scalars(select(Asset.media_path)))
    for face, ts, path in rows:
        stored_face_crop(ws.media, path, AssetKind.IMAGE, second=ts / 1000,
                         box=(face.x1, face.y1, face.x2, face.y2))
    for path in paths:
        stored_thumbnail(ws.media, path, AssetKind.IMAGE)


def media_files(ws: Workspace) -> dict[str, bytes]:
    """Every file of the media folder (temporary files aside), by relative path."""
    root = ws.media.root
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".tmp" not in p.parts}


def pixel_hash(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return hashlib.sha256(np.asarray(im.convert("RGB")).tobytes()).hexdigest()
    except OSError:
        return None


def dump(ws: Workspace) -> dict[str, list[dict]]:
    """Every row of every table, as column → value."""
    out = {}
    with ws.session() as s:
        for table in Base.metadata.sorted_tables:
            out[table.name] = [dict(r._mapping) for r in s.execute(select(table))]
    return out


def recount(ws: Workspace) -> dict[int, int]:
    """Faces of each asset's latest analyzed run, counted from the rows (independently of
    the summary table's query)."""
    with ws.session() as s:
        latest: dict[int, int] = {}
        for o in s.scalars(select(AssetAnalysis)):
            if o.status.value == "analyzed":
                latest[o.asset_id] = max(latest.get(o.asset_id, 0), o.run_id)
        n = Counter(f.asset_id for f in s.scalars(select(Face))
                    if latest.get(f.asset_id) == f.run_id)
    return {a: n.get(a, 0) for a in latest}


def stored_counts(ws: Workspace) -> dict[int, int]:
    with ws.session() as s:
        return {r.asset_id: r.n_faces for r in s.scalars(select(AssetFaceCounts))}


@pytest.fixture
def enrolled(any_ws: Workspace, analyzer, detector, embedder):
    """Acme (Ana enrolled with consent and matched, a review, a tag) and Other, analyzed,
    with every crop and thumbnail made."""
    ws = any_ws
    acme = add_assets(ws, "Acme", ACME_PHOTOS)
    add_assets(ws, "Other", OTHER_PHOTOS)
    ana = give_consent(ws, "Acme", NAME)
    run_analysis(ws, analyzer=analyzer)
    enroll_paths(ws, brand="Acme", name=NAME, paths=[media_file(ANA_PHOTO)],
                 detector=detector, embedder=embedder)
    match_faces(ws, brand="Acme", embedder=embedder)
    with ws.sessions.begin() as s:
        theirs = list(s.scalars(select(Face).where(Face.ambassador_id == ana)))
        assert theirs, "recognition found Ana in her own photo"
        s.add(Review(face_id=theirs[0].id, label=theirs[0].dominant or "neutral",
                     reviewer="rita@example.com"))
        s.get(Asset, acme[0]).ambassador_id = ana
    make_derived(ws)
    return ws, ana


def ana_traces(ws: Workspace, ana: int) -> dict[str, object]:
    """What identifies Ana: ids, byte strings (embeddings, references) and crop pixels."""
    with ws.session() as s:
        faces = list(s.scalars(select(Face).where(Face.ambassador_id == ana,
                                                  Face.ambassador_confirmed.is_not(False))))
        face_ids = {f.id for f in faces}
        vectors = set(s.scalars(select(FaceEmbedding.vector).where(
            FaceEmbedding.face_id.in_(face_ids))))
        vectors |= set(s.scalars(select(AmbassadorReference.vector).where(
            AmbassadorReference.ambassador_id == ana)))
        rows = s.execute(select(Face, Frame.timestamp_ms, Asset.media_path)
                         .join(Frame, Frame.id == Face.frame_id)
                         .join(Asset, Asset.id == Face.asset_id)
                         .where(Face.id.in_(face_ids))).all()
    crops = {}
    for face, ts, path in rows:
        img = stored_face_crop(ws.media, path, AssetKind.IMAGE, second=ts / 1000,
                               box=(face.x1, face.y1, face.x2, face.y2))
        crops[hashlib.sha256(np.asarray(img).tobytes()).hexdigest()] = face.id
    return {"face_ids": face_ids, "vectors": {bytes(v) for v in vectors}, "crops": crops}


def assert_gone(ws: Workspace, ana: int, traces: dict, *, faces_removed: bool) -> None:
    """No row or file holds Ana's name, ids, embeddings or crop pixels."""
    words = {NAME.lower(), NAME.split()[0].lower()}
    for table, rows in dump(ws).items():
        for row in rows:
            for col, value in row.items():
                where = f"{table}.{col} = {value!r:.80}"
                if col == "ambassador_id" or (table == "ambassador" and col == "id"):
                    assert value != ana, where
                if faces_removed and (col == "face_id" or (table == "face" and col == "id")):
                    assert value not in traces["face_ids"], where
                if isinstance(value, (bytes, memoryview)):
                    assert bytes(value) not in traces["vectors"], where
                    assert all(v not in bytes(value) for v in traces["vectors"]), where
                text = str(value).lower()
                assert not any(w in text for w in words), where
    for rel, data in media_files(ws).items():
        assert pixel_hash(data) not in traces["crops"], f"a crop of Ana's face: {rel}"
        assert all(v not in data for v in traces["vectors"]), rel
        assert NAME.encode() not in data


@pytest.mark.parametrize("mode", [MatchedFaces.REMOVE, MatchedFaces.DETACH])
def test_erasing_an_ambassador_leaves_no_trace(enrolled, mode) -> None:
    ws, ana = enrolled
    traces = ana_traces(ws, ana)
    assert traces["vectors"] and traces["crops"]
    before = dump(ws)
    others = {r["id"]: r for r in before["face"] if r["id"] not in traces["face_ids"]}
    files_before = media_files(ws)
    with pytest.raises(AccessDenied):  # an analyst may not erase
        with ws.session() as s:
            acme = s.scalar(select(Ambassador.brand_id).where(Ambassador.id == ana))
        erasure.erase_ambassador(ws, Principal(PrincipalKind.USER, subject="a",
                                               roles=((acme, Role.ANALYST),)),
                                 brand="Acme", name=NAME, matched=mode)
    receipt = erasure.erase_ambassador(ws, cli_operator(), brand="Acme", name=NAME,
                                       matched=mode)
    assert receipt.kind is ErasureKind.AMBASSADOR and len(receipt.subject) == 64
    assert receipt.counts["ambassadors"] == 1 and receipt.counts["references"] == 1
    assert receipt.counts["crops"] >= len(traces["face_ids"])
    key = "faces" if mode is MatchedFaces.REMOVE else "faces_detached"
    assert receipt.counts[key] == len(traces["face_ids"])
    assert NAME not in receipt.to_json() and ANA_PHOTO not in receipt.to_json()
    assert_gone(ws, ana, traces, faces_removed=mode is MatchedFaces.REMOVE)
    after = dump(ws)
    # Everything else is untouched: other faces, the other brand, its files.
    assert {r["id"]: r for r in after["face"] if r["id"] not in traces["face_ids"]} == others
    assert after["brand"] == before["brand"] and after["asset_post"] == before["asset_post"]
    kept = {r["id"] for r in after["face"]}
    assert (kept & traces["face_ids"]) == (set() if mode is MatchedFaces.REMOVE
                                          else traces["face_ids"])
    assert recount(ws) == stored_counts(ws)
    rollups_equal_a_recount(ws)
    with ws.session() as s:  # the audit trail names the receipt's opaque id, not the person
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.ERASURE)
                          ).one()
    assert (event.object_kind, event.object_id) == (ObjectKind.ERASURE, receipt.subject)
    assert NAME not in json.dumps(event.details) and event.actor.startswith("os:")
    files_after = media_files(ws)
    originals = {p for p in files_before if not p.startswith("derived/")}
    assert originals <= set(files_after), "the brands' own media stay"
    with ws.session() as s:
        log = s.scalars(select(ErasureLog)).one()
        assert (log.subject, log.kind) == (receipt.subject, ErasureKind.AMBASSADOR)


def test_erasing_assets_campaigns_channels_and_brands_removes_unshared_files(
        any_ws: Workspace, analyzer) -> None:
    ws = any_ws
    spring = add_assets(ws, "Acme", ("multi_face.jpg",), campaign="Spring")
    insta = add_assets(ws, "Acme", ("0-f1-su-ph.jpg",), channel="acme")
    single = add_assets(ws, "Acme", ("single_face.jpg",))
    other = add_assets(ws, "Other", ("single_face.jpg", "0-f15-hao-ph.jpg"))
    run_analysis(ws, analyzer=analyzer)
    make_derived(ws)
    with ws.session() as s:
        path = {a.id: a.media_path for a in s.scalars(select(Asset))}

    def exists(asset_id: int) -> bool:
        return ws.media.exists(path[asset_id])

    op = cli_operator()
    r = erasure.erase_asset(ws, op, asset_id=single[0])
    assert r.counts["assets"] == 1 and r.counts.get("files", 0) == 0
    assert exists(single[0]), "Other's asset uses the same file"
    r = erasure.erase_campaign(ws, op, brand="Acme", name="Spring")
    assert (r.counts["campaigns"], r.counts["files"]) == (1, 1) and not exists(spring[0])
    assert not any(p.startswith("derived/") and path[spring[0]].split("/")[-1].split(".")[0]
                   in p for p in media_files(ws))
    r = erasure.erase_channel(ws, op, brand="Acme", name="instagram:acme")
    assert (r.counts["channels"], r.counts["files"]) == (1, 1) and not exists(insta[0])
    assert recount(ws) == stored_counts(ws)
    rollups_equal_a_recount(ws)
    with ws.session() as s:
        assert set(s.scalars(select(Asset.id))) == set(other)
    r = erasure.erase_brand(ws, op, name="Other")
    assert r.counts["brands"] == 1 and r.counts["files"] == 2
    assert not any(p for p in media_files(ws)), "no media file is left"
    rows = dump(ws)
    for table in ("asset", "face", "frame", "brand", "asset_face_counts", "asset_analysis",
                  "campaign", "channel", "face_embedding"):
        assert rows[table] == [] or table == "brand", table
    assert [b["name"] for b in rows["brand"]] == ["Acme"]
    rollups_equal_a_recount(ws)
    assert {e["kind"] for e in rows["erasure_log"]} == {"asset", "campaign", "channel",
                                                         "brand"}


def test_erasing_an_unmatched_face_removes_that_face_only(ws: Workspace, analyzer) -> None:
    ids = add_assets(ws, "Acme", ("multi_face.jpg",))
    run_analysis(ws, analyzer=analyzer)
    make_derived(ws)
    with ws.session() as s:
        faces = list(s.scalars(select(Face).where(Face.asset_id == ids[0]).order_by(Face.id)))
    assert len(faces) >= 2
    r = erasure.erase_face(ws, cli_operator(), face_id=faces[0].id)
    assert r.kind is ErasureKind.FACE and r.counts["faces"] == 1 and r.counts["crops"] == 1
    with ws.session() as s:
        assert s.get(Face, faces[0].id) is None
        assert s.get(AssetFaceCounts, ids[0]).n_faces == len(faces) - 1
    assert recount(ws) == stored_counts(ws)


def test_cli_refuses_without_yes_and_prints_a_json_receipt(ws_env: Path) -> None:
    import json

    from typer.testing import CliRunner

    from brandmood.cli import app
    from db.workspace import open_workspace

    ws = open_workspace()
    try:
        ids = add_assets(ws, "Acme", ("single_face.jpg",))
    finally:
        ws.close()
    runner = CliRunner()
    result = runner.invoke(app, ["erase", "asset", str(ids[0])])
    assert result.exit_code == 2 and "without --yes" in result.output
    ws = open_workspace()
    with ws.session() as s:
        assert s.get(Asset, ids[0]) is not None, "nothing changed"
    ws.close()
    result = runner.invoke(app, ["erase", "asset", str(ids[0]), "--yes", "--json"])
    assert result.exit_code == 0, result.output
    receipt = json.loads(result.output)
    assert receipt["kind"] == "asset" and receipt["counts"]["assets"] == 1
    assert receipt["counts"]["files"] == 1 and "single_face" not in result.output
    result = runner.invoke(app, ["erase", "ambassador", "Nobody", "--brand", "Acme", "--yes"])
    assert result.exit_code == 2 and "unknown ambassador" in result.output


def test_erasure_in_a_bucket_removes_unshared_objects(s3_ws: Workspace, s3_env: dict,
                                                      analyzer) -> None:
    from tests.s3 import bucket_keys

    ws = s3_ws

    def keys() -> list[str]:
        return bucket_keys(s3_env["AWS_ENDPOINT_URL"], ws.media.location)

    group, single = add_assets(ws, "Acme", ("multi_face.jpg", "single_face.jpg"))
    add_assets(ws, "Other", ("single_face.jpg",))
    run_analysis(ws, analyzer=analyzer)
    make_derived(ws)
    with ws.session() as s:
        sha = {a.id: a.sha256 for a in s.scalars(select(Asset))}
    assert [k for k in keys() if sha[group] in k and "derived/" in k], "crops were made"
    erasure.erase_asset(ws, cli_operator(), asset_id=group)
    assert not [k for k in keys() if sha[group] in k], "file, thumbnails and crops are gone"
    erasure.erase_asset(ws, cli_operator(), asset_id=single)
    assert [k for k in keys() if sha[single] in k and "derived/" not in k], \
        "Other's asset still uses the file"
    erasure.erase_brand(ws, cli_operator(), name="Other")
    assert keys() == []
