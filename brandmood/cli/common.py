"""Shared pieces of the CLI: the Typer app, error handling, workspace opening."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer

from brandmood.core.access import AccessDenied
from brandmood.core.fetch import AssetError
from db.media_store import MediaStoreError
from db.queries.core import NotFoundError
from db.session import DatabaseError
from db.workspace import Workspace, open_workspace

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True, add_completion=False,
                  help="brandmood: which emotions does your brand's visual communication show?")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
config_app = typer.Typer(no_args_is_help=True, help="Configuration.")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")


class UserError(Exception):
    """A mistake the user can fix; shown as one line, exit code 2."""


USER_ERRORS = (UserError, NotFoundError, DatabaseError, AssetError, MediaStoreError,
               FileNotFoundError, ValueError, AccessDenied)


def fail(message: str, code: int = 2) -> None:
    """Print one error line and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def workspace() -> Iterator[Workspace]:
    """Open the configured workspace for one command."""
    ws = open_workspace()
    try:
        yield ws
    finally:
        ws.close()


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so that user errors end as one line and exit code 2.

    Put it under ``@app.command()`` so Typer still reads the wrapped signature.
    """
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            fail(str(exc) or type(exc).__name__)
            raise  # unreachable: fail() exits
    return wrapper


def run_cli(the_app: typer.Typer, args: list[str] | None = None) -> None:
    """Run the app, turning user errors into one line and exit code 2."""
    try:
        the_app(args=args, standalone_mode=True)
    except USER_ERRORS as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
