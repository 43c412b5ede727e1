"""The command line's actions land in the audit trail as ``os:<user>``, and ``brandmood
audit list`` reads it back with filters."""

from __future__ import annotations

import getpass
import json

from typer.testing import CliRunner

from brandmood.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def events(*args: str) -> list[dict]:
    out = invoke("audit", "list", "--json", *args)
    assert out.exit_code == 0, out.output
    return [json.loads(line) for line in out.output.splitlines()]


def test_cli_actions_are_recorded_as_the_os_user(ws_env, tmp_path, media) -> None:
    me = f"os:{getpass.getuser()}"
    assert invoke("init", "--brand", "Acme").exit_code == 0
    assert invoke("init", "--brand", "Beta").exit_code == 0
    invoke("member", "add", "--brand", "Acme", "--user", "ana@example.com", "--role", "viewer")
    invoke("member", "add", "--brand", "Beta", "--user", "bob@example.com", "--role", "analyst")
    out = invoke("ingest", "files", str(media.path("single_face.jpg")), "--brand", "Acme")
    assert out.exit_code == 0, out.output
    out = invoke("export", "--brand", "Acme", "--format", "csv", "--csv", "assets",
                 "--out", str(tmp_path / "a.csv"))
    assert out.exit_code == 0, out.output

    every = events()
    assert {(e["user"], e["brand"], e["action"]) for e in every} == {
        (me, "Acme", "membership_change"), (me, "Beta", "membership_change"),
        (me, "Acme", "ingest"), (me, "Acme", "export")}
    assert all({"at", "user", "brand", "action"} <= set(e) for e in every)
    assert [e["action"] for e in events("--brand", "Beta")] == ["membership_change"]
    assert [e["brand"] for e in events("--action", "export")] == ["Acme"]
    assert events("--since", "2999-01-01") == []
    assert len(events("--since", "2000-01-01")) == 4
    change = events("--brand", "Acme", "--action", "membership_change")[0]
    assert change["details"] == {"before": None, "after": "viewer"}
    assert change["object"] == "user:ana@example.com"


def test_audit_list_user_errors(ws_env) -> None:
    assert invoke("init", "--brand", "Acme").exit_code == 0
    out = runner.invoke(app, ["audit", "list", "--since", "yesterday"])
    assert out.exit_code == 2 and "--since 'yesterday'" in out.output
    out = runner.invoke(app, ["audit", "list", "--action", "delete_everything"])
    assert out.exit_code != 0
    assert invoke("audit", "list").output.strip() == "no events"


def test_exports_are_limited_per_hour(ws_env, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BRANDMOOD_MAX_EXPORTS_PER_HOUR", "1")
    assert invoke("init", "--brand", "Acme").exit_code == 0
    args = ("export", "--brand", "Acme", "--csv", "assets", "--out", str(tmp_path / "a.csv"))
    assert invoke(*args).exit_code == 0
    (tmp_path / "a.csv").unlink()
    out = runner.invoke(app, list(args))
    assert out.exit_code == 2 and "Too many exports: at most 1 per hour" in out.output
    assert not (tmp_path / "a.csv").exists()
    assert [e["action"] for e in events()] == ["rate_limited", "export"]
