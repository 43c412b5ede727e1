"""The settings table: typed values from the environment, defaults, secrets never shown, and
one cache that `make`'s fetch step, the CLI and the app agree on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.core.settings import (
    DEFAULT_MODEL,
    SETTINGS,
    Config,
    SettingError,
    load_config,
    settings_given,
)

REPO = Path(__file__).resolve().parents[2]
BRANDMOOD = Path(sys.executable).parent / "brandmood"
SECRETS = {"BRANDMOOD_INSTAGRAM_TOKEN": "ig-s3cret-token", "BRANDMOOD_FACEBOOK_TOKEN": "fb-s3cret",
           "BRANDMOOD_YOUTUBE_KEY": "yt-s3cret-key", "BRANDMOOD_OIDC_CLIENT_SECRET": "oidc-s3cret",
           "BRANDMOOD_COOKIE_SECRET": "ck-s3cret" * 4}


def test_one_config_attribute_per_table_row_in_order() -> None:
    assert [s.name for s in SETTINGS] == [f.name for f in fields(Config)]
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)


def test_defaults_when_nothing_is_set(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config({"HOME": "/home/someone"})
    assert cfg.home == tmp_path / "brandmood-data"
    assert cfg.database_url == f"sqlite:///{tmp_path / 'brandmood-data' / 'brandmood.db'}"
    assert cfg.cache_dir == Path("/home/someone/.cache/brandmood")
    assert cfg.model == DEFAULT_MODEL == "faceapi"
    assert (cfg.threads, cfg.allow_hosts, cfg.instagram_token, cfg.onnx_weights) == \
        (None, (), None, {})
    assert settings_given({"HOME": "/home/someone"}) == set()


def test_cache_follows_xdg_cache_home_unless_set(tmp_path) -> None:
    assert load_config({"HOME": "/h", "XDG_CACHE_HOME": "/xdg"}).cache_dir == \
        Path("/xdg/brandmood")
    # the XDG spec: a relative XDG_CACHE_HOME is invalid and ignored
    assert load_config({"HOME": "/h", "XDG_CACHE_HOME": "rel"}).cache_dir == \
        Path("/h/.cache/brandmood")
    assert load_config({"HOME": "/h", "XDG_CACHE_HOME": "/xdg",
                        "BRANDMOOD_CACHE": str(tmp_path)}).cache_dir == tmp_path


def test_values_are_typed_and_blank_means_unset(tmp_path) -> None:
    env = {"BRANDMOOD_THREADS": " 3 ", "BRANDMOOD_ALLOW_HOSTS": " cdn.local , ,10.0.0.0/8",
           "BRANDMOOD_HOME": str(tmp_path / "ws"), "BRANDMOOD_MODEL": "  ",
           "BRANDMOOD_FACENET_WEIGHTS": str(tmp_path / "w.pt"),
           "BRANDMOOD_ONNX_FERPLUS_8": str(tmp_path / "f.onnx"), "BRANDMOOD_ONNX_": "x"}
    cfg = load_config(env)
    assert cfg.threads == 3
    assert cfg.allow_hosts == ("cdn.local", "10.0.0.0/8")
    assert cfg.home == tmp_path / "ws" and cfg.model == DEFAULT_MODEL
    assert cfg.facenet_weights == tmp_path / "w.pt"
    assert cfg.onnx_weights == {"FERPLUS_8": tmp_path / "f.onnx"}
    assert cfg.onnx_weights_for("ferplus-8") == tmp_path / "f.onnx"
    assert cfg.onnx_weights_for("hsemotion-enet-b0-8") is None
    assert settings_given(env) == {"threads", "allow_hosts", "home", "facenet_weights",
                                   "onnx_weights"}


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_a_bad_value_is_an_error_naming_the_variable(bad) -> None:
    with pytest.raises(SettingError, match=rf"BRANDMOOD_THREADS='{re.escape(bad)}'"):
        load_config({"BRANDMOOD_THREADS": bad})


def test_bad_value_on_the_command_line_is_one_line_exit_2(ws_env, monkeypatch) -> None:
    monkeypatch.setenv("BRANDMOOD_THREADS", "many")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: BRANDMOOD_THREADS='many': must be a positive " \
                                    "whole number"


def test_by_env_reads_a_setting_by_its_variable() -> None:
    cfg = load_config(SECRETS)
    assert cfg.by_env("BRANDMOOD_YOUTUBE_KEY") == "yt-s3cret-key"
    with pytest.raises(KeyError):
        cfg.by_env("BRANDMOOD_NO_SUCH")


@pytest.mark.parametrize("as_json", [False, True])
def test_config_show_masks_secrets_and_passwords(ws_env, monkeypatch, as_json) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("BRANDMOOD_DATABASE_URL", "postgresql://bob:pw-s3cret@db.example/x")
    result = CliRunner().invoke(app, ["config", "show", *(["--json"] if as_json else [])])
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert repr(load_config()).count("s3cret") == 0
    if as_json:
        shown = json.loads(result.output)
        assert set(shown) == {s.name for s in SETTINGS} | {"media_dir"}
        assert shown["instagram_token"] == "***" and shown["facebook_token"] == "***"
        assert shown["database_url"] == "postgresql://bob:***@db.example/x"
    else:
        lines = dict(re.split(r"\s{2,}", ln, maxsplit=1) for ln in result.output.splitlines())
        assert set(lines) == {s.env for s in SETTINGS} | {"media store"}
        assert lines["BRANDMOOD_YOUTUBE_KEY"] == "***"
        assert lines["BRANDMOOD_HOME"] == str(ws_env)
        assert lines["BRANDMOOD_MODEL"] == f"{DEFAULT_MODEL}  (default)"


def test_config_docs_rewrites_a_stale_readme_table(tmp_path) -> None:
    readme = (REPO / "README.md").read_text()
    stale = tmp_path / "README.md"
    stale.write_text(re.sub(r"^\| `BRANDMOOD_THREADS`.*\n", "", readme, flags=re.M))
    assert stale.read_text() != readme
    result = CliRunner().invoke(app, ["config", "docs", "--write", str(stale)])
    assert result.exit_code == 0, result.output
    assert stale.read_text() == readme
    result = CliRunner().invoke(app, ["config", "docs", "--write", str(tmp_path / "none.md")])
    assert result.exit_code == 2


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """Nothing of this process's environment but PATH (and PYTHONPATH, which points a worktree
    at its own code); HOME is ``home``."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **extra}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def _shown_cache(env: dict[str, str], cwd: Path) -> Path:
    proc = subprocess.run([str(BRANDMOOD), "config", "show", "--json"], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return Path(json.loads(proc.stdout)["cache_dir"])


def test_makefile_leaves_the_cache_to_the_settings_default() -> None:
    """`make` exports no cache variable, so its fetch step resolves the cache as the CLI does."""
    proc = subprocess.run(["make", "-n", "-p", "fetch"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"})
    assert "brandmood fetch" in proc.stdout           # the fetch step is the CLI's fetch
    assert "BRANDMOOD_CACHE" not in proc.stdout
    assert "XDG_CACHE_HOME" not in proc.stdout


def test_cli_with_a_clean_environment_uses_the_cache_the_fetch_step_filled(tmp_path) -> None:
    """`brandmood fetch` (what `make fetch` runs) and a hand-run CLI, each with nothing set but
    HOME, resolve the same cache: the fetch finds the pinned files there (no network: pip may
    not reach an index) and the CLI names that folder."""
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    (home / ".cache" / "brandmood").symlink_to(load_config().cache_dir)  # pre-filled cache
    env = _clean_env(home, PIP_NO_INDEX="1")
    fetched = subprocess.run([str(BRANDMOOD), "fetch"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=600, check=False)
    assert fetched.returncode == 0, fetched.stderr
    paths = [Path(ln.removeprefix("ok ")) for ln in fetched.stdout.splitlines()]
    assert len(paths) >= 3 and all(p.is_file() for p in paths)
    cache = home / ".cache" / "brandmood"
    assert all(p.is_relative_to(cache) for p in paths), paths
    assert _shown_cache(_clean_env(home), REPO) == cache
    xdg = tmp_path / "xdg"
    assert _shown_cache(_clean_env(home, XDG_CACHE_HOME=str(xdg)), REPO) == xdg / "brandmood"
