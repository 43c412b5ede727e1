"""Fixtures of the dashboard tests: a filled and an empty workspace the app opens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from brandmood.core.settings import load_config
from db.workspace import Workspace, open_workspace
from tests.pages.fill import fill

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"


@dataclass
class Filled:
    ws: Workspace
    ids: dict[str, int]
    home: Path


def _point_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("BRANDMOOD_HOME", str(home))
    monkeypatch.delenv("BRANDMOOD_DATABASE_URL", raising=False)


@pytest.fixture
def filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, media) -> Iterator[Filled]:
    """A workspace with two brands, runs, faces, a video and a review; the env points at it."""
    home = tmp_path / "ws"
    _point_env(monkeypatch, home)
    ws = open_workspace(load_config())
    ids = fill(ws, media)
    yield Filled(ws, ids, home)
    ws.close()


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace folder with nothing in it; the env points at it."""
    home = tmp_path / "empty"
    _point_env(monkeypatch, home)
    return home


SIGN_IN_SECRETS = {"auth": {
    "redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 40,
    "client_id": "brandmood", "client_secret": "not-used-by-apptest",
    "server_metadata_url": "http://localhost:9/.well-known/openid-configuration"}}
"""Streamlit's ``[auth]`` secrets: sign-in on (AppTest never contacts the provider)."""


def run_page(page: str | None = None, *, query: dict[str, str] | None = None,
             state: dict | None = None, timeout: float = 60,
             user: dict | None = None) -> AppTest:
    """Run the app (optionally switching to ``pages/<page>``) and return the finished test.

    Filters are set before the first run, through the URL (``query``) or the widgets'
    session state (``state``): AppTest (Streamlit 1.67) reruns only the page script of an
    ``st.navigation`` app, so sidebar widgets changed after the first run would not apply.

    Args:
        user: with sign-in on, the signed-in user's ID-token claims (``sub``, ``email``,
            ``groups`` …); None: sign-in off, the local admin.
    """
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    if user is not None:
        at.secrets = SIGN_IN_SECRETS
        at.user = {"is_logged_in": True, **user}
    for k, v in (query or {}).items():
        at.query_params[k] = v
    for k, v in (state or {}).items():
        at.session_state[k] = v
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def chart_counts(at: AppTest, index: int = 0) -> dict[tuple[str, str], int]:
    """``(bar label, emotion) → face count`` read back from a rendered share-bar chart."""
    import json

    fig = json.loads(at.get("plotly_chart")[index].proto.spec)
    out = {}
    for trace in fig["data"]:
        for y, custom in zip(trace["y"], trace["customdata"], strict=True):
            out[(y.split(" (n=")[0], trace["name"])] = int(custom[0])
    return out
