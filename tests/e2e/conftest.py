"""Fixtures of the browser tests: ``brandmood serve`` on a free port, headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
EXE = Path(sys.executable).parent / "brandmood"


def _chromium() -> Path:
    if not CHROMIUM.exists() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["bash", str(REPO / "scripts" / "install-system-deps.sh")], check=False)
    if not CHROMIUM.exists():
        message = "Debian chromium is not installed (run scripts/install-system-deps.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


Serve = Callable[..., tuple[str, Path]]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start ``brandmood serve`` on 127.0.0.1:<free port> with a fresh workspace:
    ``url, home = serve(brand="Acme")`` (``brand``: created before the server starts)."""
    from brandmood.core.settings import load_config

    procs: list[subprocess.Popen] = []

    def start(brand: str | None = None) -> tuple[str, Path]:
        n = len(procs)
        home = tmp_path / f"ws{n}"
        env = {**os.environ, "BRANDMOOD_HOME": str(home),
               "BRANDMOOD_CACHE": str(load_config().cache_dir)}
        env.pop("BRANDMOOD_DATABASE_URL", None)
        if brand:
            subprocess.run([str(EXE), "init", "--brand", brand], env=env, check=True,
                           capture_output=True, timeout=300)
        port, log_path = _free_port(), tmp_path / f"serve{n}.log"
        with log_path.open("wb") as log:
            procs.append(subprocess.Popen([str(EXE), "serve", "--port", str(port)], cwd=REPO,
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return url, home
            except OSError:
                pass
            if procs[-1].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"brandmood serve did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def server(serve: Serve) -> tuple[str, Path]:
    """``brandmood serve`` with a fresh, empty workspace: ``(url, home)``."""
    return serve()


@pytest.fixture
def browser() -> Iterator:
    """A headless Chromium (Playwright) for the whole test."""
    from playwright.sync_api import sync_playwright

    exe = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(exe), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def browser_page(browser) -> Iterator:
    """A fresh page (1400×1000, downloads accepted)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(60_000)
    yield page
    page.close()


def choose_files(page, *paths: Path) -> None:
    """Put files in the page's file uploader and wait until each has reached the server.

    The chip with the file name shows at once; a spinner on it says the upload is still
    going, and a form submitted then holds no file (a race that a busy machine lost)."""
    page.locator("input[type=file]").set_input_files([str(p) for p in paths])
    for p in paths:
        page.locator('[data-testid="stFileChip"]').filter(has_text=p.name).first.wait_for()
    page.locator('[data-testid="stFileChipIconSpinner"]').first.wait_for(state="detached",
                                                                        timeout=120_000)


def pick(page, selectbox, option: str, tries: int = 3) -> None:
    """Open ``selectbox`` (a locator) and choose ``option``, opening it again when a script
    rerun closed the list before the option showed (which happens on a busy machine)."""
    for attempt in range(tries):
        selectbox.evaluate("e => e.scrollIntoView({block: 'center'})")  # room for its list
        selectbox.click()
        choice = page.get_by_role("option", name=option)
        try:
            choice.first.wait_for(timeout=20_000)
        except PlaywrightTimeout:  # the list closed before the option showed: open it again
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
            continue
        choice.first.click()
        return
