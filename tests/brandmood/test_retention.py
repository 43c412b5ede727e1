"""Retention on SQLite and PostgreSQL with real photos analyzed by the real models: a dry
run changes nothing; media retention removes the files, thumbnails and crops of assets
analyzed before the cut-off (a file another asset still uses stays), keeps the faces and
counts, and the pages and the PDF say the thumbnail was removed by the policy; full
retention erases the assets."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from brandmood.core.access import AccessDenied, Principal, PrincipalKind
from brandmood.services import reports
from brandmood.services.access import cli_operator
from brandmood.services.analyze import run_analysis
from brandmood.services.retention import RetentionPolicy, apply_retention
from brandmood.ui import media as ui_media
from db.models import AnalysisRun, Asset, AssetKind
from db.queries.retention import REMOVED_BY_POLICY
from db.queries.selection import DashboardFilters
from db.workspace import Workspace
from tests.brandmood.test_erasure import (
    add_assets,
    dump,
    make_derived,
    media_files,
    recount,
    stored_counts,
)


def aged_workspace(ws: Workspace, analyzer) -> dict[str, int]:
    """Acme: ``old`` (multi_face) and ``shared`` (single_face) analyzed 40 days ago; Other:
    ``fresh``, the same single_face file, analyzed now."""
    old, shared = add_assets(ws, "Acme", ("multi_face.jpg", "single_face.jpg"))
    (fresh,) = add_assets(ws, "Other", ("single_face.jpg",))
    run_analysis(ws, analyzer=analyzer, asset_ids=[old, shared])
    with ws.sessions.begin() as s:
        s.execute(update(AnalysisRun).values(
            started_at=datetime.now(UTC) - timedelta(days=41),
            finished_at=datetime.now(UTC) - timedelta(days=40)))
    run_analysis(ws, analyzer=analyzer, asset_ids=[fresh], new_run=True)
    make_derived(ws)
    return {"old": old, "shared": shared, "fresh": fresh}


def _pdf_text(ws: Workspace, brand: str) -> str:
    """The text of the brand's PDF report (blurred thumbnails of its top assets)."""
    with ws.session() as s:
        brand_id = s.scalar(select(Asset.brand_id).where(Asset.source_uri == "multi_face.jpg"))
        data = reports.collect_report(
            s, filters=DashboardFilters(brand_id=brand_id, scope=cli_operator().allowed_brands()),
            media=ws.media, brand=brand)
        payload = reports.pdf_report(data, charts=False)
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(payload)).pages)
                    .split())


def test_media_retention_keeps_faces_and_says_so(any_ws: Workspace, analyzer) -> None:
    ws = any_ws
    ids = aged_workspace(ws, analyzer)
    with ws.session() as s:
        path = {a.id: a.media_path for a in s.scalars(select(Asset))}
    rows, files, counts = dump(ws), media_files(ws), stored_counts(ws)
    assert REMOVED_BY_POLICY not in _pdf_text(ws, "Acme")
    policy = RetentionPolicy(media_days=30)

    with pytest.raises(AccessDenied):
        apply_retention(ws, Principal(PrincipalKind.USER, subject="x"), policy=policy)
    dry = apply_retention(ws, cli_operator(), policy=policy, dry_run=True)
    assert (dry.media_assets, dry.media_files, dry.erased_assets) == (2, 2, 0)
    assert dry.receipt is None and "would remove" in dry.lines()[0]
    assert dump(ws) == rows and media_files(ws) == files, "a dry run changes nothing"

    done = apply_retention(ws, cli_operator(), policy=policy)
    assert done.counts["media_removed"] == 2 and done.counts["files"] == 1
    assert not ws.media.exists(path[ids["old"]])
    assert ws.media.exists(path[ids["shared"]]), "Other's fresh asset uses the same file"
    sha_old = path[ids["old"]].rsplit("/", 1)[-1].split(".")[0]
    assert not [p for p in media_files(ws) if sha_old in p], "no thumbnail or crop is left"
    after = dump(ws)
    assert after["face"] == rows["face"] and stored_counts(ws) == counts == recount(ws)
    removed = {r["id"] for r in after["asset"] if r["media_removed_at"] is not None}
    assert removed == {ids["old"], ids["shared"]}
    with pytest.raises(ui_media.MediaRemovedError, match=REMOVED_BY_POLICY):
        ui_media.stored_thumbnail(ws.media, path[ids["old"]], AssetKind.IMAGE)
    assert REMOVED_BY_POLICY in _pdf_text(ws, "Acme")
    again = apply_retention(ws, cli_operator(), policy=policy, dry_run=True)
    assert again.media_assets == 0

    # everything stored more than 30 days ago, seen 31 days from now: every asset
    gone = apply_retention(ws, cli_operator(), policy=RetentionPolicy(all_days=30),
                           now=datetime.now(UTC) + timedelta(days=31))
    assert gone.erased_assets == 3 and gone.counts["assets"] == 3
    assert not media_files(ws) and not dump(ws)["face"]
    kinds = [r["kind"] for r in dump(ws)["erasure_log"]]
    assert kinds == ["retention", "retention"]


def test_retention_cli_dry_run_and_refusal(ws_env) -> None:
    from typer.testing import CliRunner

    from brandmood.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["retention", "apply", "--media-days", "30"])
    assert result.exit_code == 2 and "without --yes" in result.output
    result = runner.invoke(app, ["retention", "apply", "--media-days", "30", "--dry-run"])
    assert result.exit_code == 0 and "would remove" in result.output
    result = runner.invoke(app, ["retention", "apply", "--yes"])
    assert result.exit_code == 2 and "no retention set" in result.output
    result = runner.invoke(app, ["retention", "apply", "--media-days", "0", "--yes"])
    assert result.exit_code == 2 and "at least 1" in result.output
