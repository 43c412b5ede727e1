"""The ``brandmood`` command line: every job of the app.

User errors (bad path, unknown brand, unreachable database) end with one clear line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

from brandmood.core.runtime import configure_process

configure_process()  # the CLI is an entry point: before any command module loads torch

import typer  # noqa: E402

from brandmood.cli import (  # noqa: E402, F401  (each module registers its commands)
    analyze,
    audit,
    core,
    demo,
    erasure,
    export,
    fairness,
    identity,
    ingest,
    member,
    responsible_use,
    rollups,
    train,
    worker,
)
from brandmood.cli.common import app, run_cli  # noqa: E402


def main() -> None:
    """Console-script entry point."""
    run_cli(app)


__all__ = ["app", "main", "typer"]
