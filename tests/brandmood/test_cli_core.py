"""The workspace commands, run through Typer's test runner: happy paths and user errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.core.access import BrandScope
from brandmood.core.settings import load_config
from db.migrate import head_revision
from db.queries.core import list_brand_names
from db.workspace import open_workspace

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_every_command_has_help() -> None:
    for args in (["--help"], ["init", "--help"], ["db", "upgrade", "--help"],
                 ["config", "show", "--help"], ["serve", "--help"], ["fetch", "--help"]):
        result = invoke(*args)
        assert result.exit_code == 0, args
        assert "Usage" in result.output


def test_init_creates_workspace_and_brand(ws_env) -> None:
    result = invoke("init", "--brand", "Acme")
    assert result.exit_code == 0, result.output
    assert (ws_env / "brandmood.db").exists()
    ws = open_workspace(load_config())
    with ws.session() as s:
        assert list_brand_names(session=s, scope=BrandScope.ALL) == ["Acme"]
    ws.close()


def test_db_upgrade_reports_head(ws_env) -> None:
    result = invoke("db", "upgrade")
    assert result.exit_code == 0
    assert f"at {head_revision()}" in result.output


def test_config_show_json_hides_password(ws_env, monkeypatch) -> None:
    monkeypatch.setenv("BRANDMOOD_DATABASE_URL", "postgresql://bob:s3cret@db.example/x")
    result = invoke("config", "show", "--json")
    assert result.exit_code == 0
    shown = json.loads(result.output)
    assert "s3cret" not in result.output
    assert shown["home"] == str(ws_env)
    assert shown["database_url"].startswith("postgresql://bob:***@db.example")


@pytest.mark.parametrize("url", ["postgresql+psycopg://nobody@127.0.0.1:1/none",
                                 "notadialect://x"])
def test_unreachable_database_is_one_line_exit_2(ws_env, monkeypatch, url) -> None:
    monkeypatch.setenv("BRANDMOOD_DATABASE_URL", url)
    result = invoke("db", "upgrade")
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "Traceback" not in result.output


def test_unknown_command_is_a_usage_error(ws_env) -> None:
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2


def test_stopping_serve_stops_the_dashboard_server(tmp_path) -> None:
    """``brandmood serve`` is the server process: a stop signal leaves nothing listening."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BRANDMOOD_HOME": str(tmp_path / "ws")}
    env.pop("BRANDMOOD_DATABASE_URL", None)
    exe = Path(sys.executable).parent / "brandmood"
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    health = f"http://127.0.0.1:{port}/_stcore/health"

    def up() -> bool:
        try:
            with urllib.request.urlopen(health, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        deadline = time.monotonic() + 90
        while not up():
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert not up()                      # no orphaned Streamlit child still serving
    finally:
        if proc.poll() is None:
            proc.kill()
