"""``brandmood rollups rebuild`` repairs rollups a raw write left stale; bad brand: exit 2."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.core.settings import load_config
from db.models import AssetKind
from db.queries.core import get_or_create_brand
from db.queries.ingest import add_asset
from db.workspace import open_workspace
from tests.db.test_rollups import recount, stored

runner = CliRunner()


def test_rebuild_repairs_stale_rollups(ws_env) -> None:
    ws = open_workspace(load_config())
    with ws.sessions.begin() as s:
        brand = get_or_create_brand(s, name="Acme")
        for i in range(3):
            add_asset(s, brand_id=brand.id, kind=AssetKind.IMAGE, source_uri=f"{i}.jpg",
                      sha256=f"{i:064x}", media_path=f"x/{i}.jpg", likes=i,
                      posted_at=datetime(2025, 1, 1 + i, tzinfo=UTC))
    with ws.engine.begin() as c:  # a raw write the rollups do not see
        c.execute(text("DELETE FROM rollup_assets"))
    assert stored(ws) != recount(ws)
    result = runner.invoke(app, ["rollups", "rebuild", "--brand", "Acme"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "rebuilt" in result.output
    assert stored(ws) == recount(ws) and sum(stored(ws)["assets"].values()) == 3
    bad = runner.invoke(app, ["rollups", "rebuild", "--brand", "Nope"])
    assert bad.exit_code == 2 and "unknown brand" in bad.output
    ws.close()
