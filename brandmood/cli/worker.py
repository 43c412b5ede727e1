"""``brandmood worker``: run queued jobs (uploads' analyses, re-analyses) until stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import typer

from brandmood.cli.common import app, user_errors, workspace


def _children(n: int, argv: list[str]) -> int:
    """Run ``n`` single worker processes with ``argv`` until they end; SIGTERM/SIGINT are
    passed on, and each child stops by itself if this process dies. Returns the worst
    exit code."""
    cmd = [sys.executable, "-m", "brandmood.cli", "worker", "--parent-pid", str(os.getpid()),
           *argv]
    procs = [subprocess.Popen(cmd) for _ in range(n)]

    def forward(signum: int, _frame) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    return max(abs(p.wait()) for p in procs)


@app.command()
@user_errors
def worker(
    once: bool = typer.Option(False, "--once", help="Run every claimable job, then exit."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=64,
                                    help="Worker processes (each runs one job at a time)."),
    engine: str = typer.Option(None, "--engine", help="Analysis engine, local or ray "
                               "(default: BRANDMOOD_ENGINE); passed to the "
                               "analysis."),
    lease_s: float = typer.Option(60.0, "--lease-s", min=1.0,
                                  help="Seconds a claim holds unrenewed: the job of a worker "
                                       "that died is resumed by another after this."),
    poll_s: float = typer.Option(1.0, "--poll-s", min=0.05,
                                 help="Seconds between looks at an empty queue."),
    parent_pid: int = typer.Option(None, "--parent-pid", hidden=True,
                                   help="Stop when this process (the parent) ends."),
) -> None:
    """Run queued jobs until stopped (SIGTERM/Ctrl-C give the running job back to the queue)."""
    from brandmood.services.worker import Worker, WorkerOptions, die_with_parent

    if concurrency > 1:
        with workspace():
            pass  # migrate once here: children migrating a fresh store at once would clash
        argv = [*(["--once"] if once else []), *(["--engine", engine] if engine else []),
                "--lease-s", str(lease_s), "--poll-s", str(poll_s)]
        code = _children(concurrency, argv)
        raise typer.Exit(code)
    with workspace() as ws:
        w = Worker(ws, WorkerOptions(lease_s=lease_s, poll_s=poll_s, engine=engine),
                   on_event=lambda line: typer.echo(line))
        w.install_signal_handlers()
        if parent_pid is not None:
            die_with_parent(parent_pid)
        outcomes = w.run(once=once)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed and once:
        raise typer.Exit(1)
