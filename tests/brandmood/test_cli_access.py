"""``brandmood member`` (acting as the operating-system user) and what ``brandmood serve``
decides before Streamlit starts: no network address without sign-in, and Streamlit's sign-in
configuration in a private file, with the secrets nowhere else."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.cli.serving import prepare
from brandmood.core.settings import SettingError, load_config

BRANDMOOD = Path(sys.executable).parent / "brandmood"
CLIENT_SECRET = "client-s3cret-value"
COOKIE_SECRET = "cookie-s3cret-" + "k" * 30
SIGN_IN = {"BRANDMOOD_OIDC_METADATA_URL": "https://id.example.com/.well-known/openid-configuration",
           "BRANDMOOD_OIDC_CLIENT_ID": "brandmood-app",
           "BRANDMOOD_OIDC_CLIENT_SECRET": CLIENT_SECRET,
           "BRANDMOOD_COOKIE_SECRET": COOKIE_SECRET}

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_member_add_list_change_remove_and_owner(ws_env) -> None:
    assert invoke("init", "--brand", "Acme").exit_code == 0
    out = invoke("member", "add", "--brand", "Acme", "--user", "Ana@Example.com",
                 "--role", "viewer")
    assert out.exit_code == 0 and out.output.strip() == "ana@example.com is viewer of Acme"
    out = invoke("member", "add", "--brand", "Acme", "--user", "ana@example.com",
                 "--role", "admin")
    assert out.output.strip() == "ana@example.com is admin of Acme (was viewer)"
    invoke("member", "add", "--brand", "Acme", "--user", "google-oauth2|123", "--role", "analyst")
    rows = [json.loads(line) for line in
            invoke("member", "list", "--brand", "Acme", "--json").output.splitlines()]
    assert [(r["user"], r["role"], r["last_sign_in"]) for r in rows] == [
        ("ana@example.com", "admin", None), ("google-oauth2|123", "analyst", None)]
    out = invoke("member", "remove", "--brand", "Acme", "--user", "google-oauth2|123")
    assert out.output.strip() == "google-oauth2|123 is no longer analyst of Acme"
    assert "google" not in invoke("member", "list", "--brand", "Acme").output
    out = invoke("member", "owner", "--user", "boss@example.com")
    assert out.output.strip() == "boss@example.com is now a workspace owner"


@pytest.mark.parametrize("args, message", [
    (["member", "add", "--brand", "Nope", "--user", "a@x.test", "--role", "viewer"],
     "unknown brand 'Nope'"),
    (["member", "remove", "--brand", "Acme", "--user", "nobody@x.test"],
     "nobody@x.test is not a member of this brand"),
    (["member", "add", "--brand", "Acme", "--user", " ", "--role", "viewer"],
     "name the user by email"),
])
def test_member_mistakes_are_one_line_exit_2(ws_env, args, message) -> None:
    invoke("init", "--brand", "Acme")
    out = invoke(*args)
    assert out.exit_code == 2 and out.output.startswith("error: ") and message in out.output
    bad_role = invoke("member", "add", "--brand", "Acme", "--user", "a@x.test", "--role", "god")
    assert bad_role.exit_code == 2


def test_serve_refuses_a_network_address_without_sign_in(ws_env) -> None:
    """The real console script, as an operator runs it: exit code 2, the reason, no server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRANDMOOD_OIDC")}
    env["BRANDMOOD_HOME"] = str(ws_env)
    proc = subprocess.run([str(BRANDMOOD), "serve", "--address", "0.0.0.0", "--port", "1"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: refusing to serve on 0.0.0.0 without sign-in")
    assert "--insecure-no-sign-in-on-trusted-network" in proc.stderr
    assert "serving on" not in proc.stdout


def test_serve_checks_before_streamlit_starts(ws_env, monkeypatch) -> None:
    for address in ("192.168.1.20", "::", "brandmood.example.com"):
        out = invoke("serve", "--address", address)
        assert out.exit_code == 2 and "without sign-in" in out.output, address
    for k, v in SIGN_IN.items():
        monkeypatch.setenv(k, v)
    out = invoke("serve", "--address", "0.0.0.0")
    assert out.exit_code == 2 and "needs BRANDMOOD_PUBLIC_URL" in out.output
    monkeypatch.delenv("BRANDMOOD_OIDC_CLIENT_ID")
    out = invoke("serve")
    assert out.exit_code == 2
    assert "half configured: set BRANDMOOD_OIDC_CLIENT_ID" in out.output
    assert CLIENT_SECRET not in out.output and COOKIE_SECRET not in out.output


def _config(tmp_path: Path, **env: str):
    return load_config({"HOME": str(tmp_path), "BRANDMOOD_HOME": str(tmp_path / "ws"), **env})


def test_streamlit_auth_settings_go_to_a_private_file_only(tmp_path) -> None:
    cfg = _config(tmp_path, **SIGN_IN, BRANDMOOD_PUBLIC_URL="https://mood.example.com/")
    secrets, env = prepare(cfg, address="0.0.0.0", port=8600, insecure=False)
    assert secrets == tmp_path / "ws" / ".serve" / "secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.parent.stat().st_mode) == 0o700
    auth = tomllib.loads(secrets.read_text())["auth"]
    assert auth == {"redirect_uri": "https://mood.example.com/oauth2callback",
                    "cookie_secret": COOKIE_SECRET, "client_id": "brandmood-app",
                    "client_secret": CLIENT_SECRET,
                    "server_metadata_url": SIGN_IN["BRANDMOOD_OIDC_METADATA_URL"],
                    "client_kwargs": {"scope": "openid email profile"}}
    # the server's environment loses the secrets (Streamlit reads the file)
    assert env["BRANDMOOD_OIDC_CLIENT_SECRET"] is None and env["BRANDMOOD_COOKIE_SECRET"] is None
    # sign-in off again: the file goes, so Streamlit reads no stale [auth]
    prepare(_config(tmp_path), address="127.0.0.1", port=8600, insecure=False)
    assert not secrets.exists()


def test_cookie_secret_from_a_file_and_its_checks(tmp_path) -> None:
    secret_file = tmp_path / "cookie"
    secret_file.write_text(COOKIE_SECRET + "\n")
    env = {k: v for k, v in SIGN_IN.items() if k != "BRANDMOOD_COOKIE_SECRET"}
    sign_in = _config(tmp_path, **env, BRANDMOOD_COOKIE_SECRET_FILE=str(secret_file)).sign_in()
    assert sign_in is not None and sign_in.cookie_secret == COOKIE_SECRET
    assert sign_in.redirect_uri(8501) == "http://localhost:8501/oauth2callback"
    assert COOKIE_SECRET not in repr(sign_in) and CLIENT_SECRET not in repr(sign_in)
    bad = [({**SIGN_IN, "BRANDMOOD_COOKIE_SECRET": "short"}, "at least 32"),
           ({**SIGN_IN, "BRANDMOOD_OIDC_METADATA_URL": "http://id.example.com/x"}, "https://"),
           ({**env, "BRANDMOOD_COOKIE_SECRET_FILE": str(tmp_path / "missing")}, "cannot read"),
           ({**SIGN_IN, "BRANDMOOD_COOKIE_SECRET_FILE": str(secret_file)}, "not both")]
    for given, message in bad:
        with pytest.raises(SettingError, match=message):
            _config(tmp_path, **given).sign_in()
    loopback = {**SIGN_IN, "BRANDMOOD_OIDC_METADATA_URL": "http://localhost:9000/.well-known/x"}
    assert _config(tmp_path, **loopback).sign_in() is not None
    assert _config(tmp_path).sign_in() is None


def test_the_insecure_override_is_explicit(tmp_path) -> None:
    _, env = prepare(_config(tmp_path), address="0.0.0.0", port=8600, insecure=True)
    assert env["BRANDMOOD_INSECURE_NO_SIGN_IN_ON_TRUSTED_NETWORK"] == "1"
    with pytest.raises(SettingError, match="must be 1 or 0"):
        load_config({"BRANDMOOD_INSECURE_NO_SIGN_IN_ON_TRUSTED_NETWORK": "maybe"})
