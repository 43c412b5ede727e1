"""``brandmood analyze``: detect faces and classify emotions in stored assets."""

from __future__ import annotations

import json
import sys

import typer
from tqdm import tqdm

from brandmood.cli.common import UserError, app, user_errors, workspace
from brandmood.core.audit import AuditAction
from brandmood.services import audit
from brandmood.services.access import cli_operator


def _table(summary) -> str:
    lines = [f"run {summary.run_id} ({summary.model})"
             f"{' continued' if summary.resumed else ''}"
             f"{'' if summary.models_loaded else ': nothing to analyze (models not loaded)'}",
             f"analyzed {summary.analyzed}, failed {summary.failed}, faces {summary.faces}, "
             f"already done {summary.skipped}, {summary.timings.get('total_s', 0.0):.1f} s"]
    failed = [i for i in summary.items if i.reason]
    lines += [f"failed: asset {i.asset_id}: {i.reason}" for i in failed[:20]]
    if len(failed) > 20:
        lines.append(f"... and {len(failed) - 20} more failed assets (use --json)")
    return "\n".join(lines)


@app.command()
@user_errors
def analyze(
    model: str = typer.Option(None, "--model", help="Emotion model (default: BRANDMOOD_MODEL "
                              "or fer-mini-xception); a registered name, onnx:<file> or a "
                              "JSON manifest."),
    every_s: float = typer.Option(1.0, "--every-s", min=0.01,
                                  help="Seconds between sampled video frames."),
    asset_id: list[int] = typer.Option(None, "--asset-id",
                                       help="Analyze (again) only this asset; repeatable."),
    new_run: bool = typer.Option(False, "--new-run",
                                 help="Start a new run instead of continuing the last one "
                                      "with the same model and settings."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
    engine: str = typer.Option(None, "--engine",
                               help="Where the analysis runs: local (this process) or ray "
                                    "(a Ray cluster); default BRANDMOOD_ENGINE or local."),
    address: str = typer.Option(None, "--address",
                                help="Ray cluster of --engine ray: auto, host:port or "
                                     "ray://host:10001 (default BRANDMOOD_RAY_ADDRESS; unset: "
                                     "a private Ray on 127.0.0.1)."),
    actors: int = typer.Option(None, "--actors", min=1,
                               help="Ray actors (default: one per CPU of the cluster)."),
) -> None:
    """Analyze pending assets: faces, emotions, video tracks (resumes after a kill)."""
    from analytics.classifiers.registry import ModelUnavailableError
    from brandmood.services.analyze import run_analysis
    from brandmood.services.engines import EngineError, engine_for

    with workspace() as ws, tqdm(total=0, unit="asset", desc="analyze", file=sys.stderr,
                                 disable=as_json or None, dynamic_ncols=True) as bar:
        try:
            runner = engine_for(ws.config, name=engine, address=address, actors=actors)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        def progress(done: int, total: int, message: str) -> None:
            if bar.total != total:
                bar.total = total
            bar.n = done
            bar.set_postfix_str(message[-40:], refresh=False)
            bar.refresh()

        try:
            summary = run_analysis(ws, model=model, asset_ids=list(asset_id or []) or None,
                                   every_s=every_s, progress=progress, new_run=new_run,
                                   engine=runner)
        except (ModelUnavailableError, EngineError) as exc:
            raise UserError(str(exc)) from None
        finally:
            runner.close()
        with ws.sessions.begin() as s:
            audit.record(s, cli_operator(), AuditAction.INGEST, details={
                "analysis_run_id": summary.run_id, "model": summary.model,
                "assets": len(summary.items), "faces": summary.faces})
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        typer.echo(_table(summary))
