"""The ``brandmood`` command line: every job of the app.

User errors (bad path, unknown brand, unreachable database) end with one clear line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import typer

from brandmood.cli import core as _core  # noqa: F401  (registers commands)
from brandmood.cli.common import app, run_cli

for _name in ("ingest", "demo", "analyze", "export", "identity", "train"):
    try:  # each part of the app registers its own commands
        __import__(f"brandmood.cli.{_name}")
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a part is absent
        if exc.name != f"brandmood.cli.{_name}":
            raise


def main() -> None:
    """Console-script entry point."""
    run_cli(app)


__all__ = ["app", "main", "typer"]
