"""``brandmood fairness backfill``: the skin-tone estimate of faces stored before it existed."""

from __future__ import annotations

import json

import typer
from tqdm import tqdm

from brandmood.cli.common import app, user_errors, workspace

fairness_app = typer.Typer(no_args_is_help=True,
                           help="The fairness check (skin-tone estimate per face crop).")
app.add_typer(fairness_app, name="fairness")


@fairness_app.command("backfill")
@user_errors
def backfill(
    everything: bool = typer.Option(False, "--all",
                                    help="Recompute every stored face, not only those without "
                                         "an estimate."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
) -> None:
    """Compute the skin-tone angle (ITA) of stored faces from their media and boxes.

    New analyses compute it as they go; this fills in faces analyzed before, from the
    stored media (an asset whose file cannot be read is listed and skipped).
    """
    from brandmood.services.fairness import backfill_ita

    with workspace() as ws:
        bar = None if as_json else tqdm(total=0, unit="asset", desc="backfill", leave=False)

        def progress(done: int, total: int, _message: str) -> None:
            if bar is not None:
                bar.total = total
                bar.n = done
                bar.refresh()

        try:
            summary = backfill_ita(ws, everything=everything, progress=progress)
        finally:
            if bar is not None:
                bar.close()
    if as_json:
        typer.echo(json.dumps(summary.to_json()))
        return
    typer.echo(f"{summary.faces} faces of {summary.assets} assets: "
               f"{summary.faces - summary.not_estimated} estimated, "
               f"{summary.not_estimated} not estimable (no colour in the crop)")
    for asset_id, reason in summary.failed:
        typer.echo(f"failed: asset {asset_id}: {reason}")
