"""``brandmood rollups rebuild``: recompute the dashboard's rollups from the face rows."""

from __future__ import annotations

import time

import typer

from brandmood.cli.common import app, user_errors, workspace
from db.queries.core import get_brand
from db.queries.rollups import rebuild_rollups

rollups_app = typer.Typer(no_args_is_help=True,
                          help="The dashboard's pre-aggregated counts (rollups).")
app.add_typer(rollups_app, name="rollups")


@rollups_app.command("rebuild")
@user_errors
def rebuild(
    brands: list[str] = typer.Option([], "--brand",
                                     help="Only this brand (repeatable; default: all)."),
) -> None:
    """Recompute the rollups from the face rows, in one transaction.

    The analysis, ingest and review paths keep them exact as they write; a rebuild
    repairs them after writes that bypass those paths (e.g. deleting a brand, campaign
    or channel with SQL) and is what the migration that added them ran.
    """
    t0 = time.perf_counter()
    with workspace() as ws, ws.sessions.begin() as s:
        ids = [get_brand(s, name=b).id for b in brands] or None
        rebuild_rollups(session=s, brand_ids=ids)
    scope = f"{len(brands)} brand(s)" if brands else "every brand"
    typer.echo(f"rollups rebuilt for {scope} in {time.perf_counter() - t0:.1f} s")
