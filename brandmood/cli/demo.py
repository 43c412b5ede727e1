"""``brandmood demo``: load the demo workspace."""

from __future__ import annotations

import typer

from brandmood.cli.common import app, user_errors, workspace
from db.queries.core import workspace_is_empty


@app.command()
@user_errors
def demo(if_empty: bool = typer.Option(False, "--if-empty",
                                       help="Only load it into a workspace with no brand."),
         analyze: bool = typer.Option(True, "--analyze/--no-analyze",
                                      help="Analyze the demo media afterwards.")) -> None:
    """Load the demo workspace (Demo Brand: 2 campaigns, 3 channels, 2 ambassadors)."""
    from brandmood.services.demo import load_demo

    with workspace() as ws:
        if if_empty:
            with ws.session() as session:
                empty = workspace_is_empty(session=session)
            if not empty:
                typer.echo("workspace is not empty: demo not loaded")
                return
        load_demo(ws, analyze=analyze, echo=typer.echo)
        typer.echo(f"demo workspace ready at {ws.config.home}")
