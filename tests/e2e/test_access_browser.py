"""Sign-in and roles end to end: a real OpenID Connect provider on loopback
(``oidc-provider-mock``: its login form, ID tokens and group claims), ``brandmood serve``
with sign-in configured by the BRANDMOOD_OIDC_* settings, and Debian's Chromium.

A viewer of Acme sees only Acme and is refused, with a message, when a URL names the
other brand, one of its assets, or a page the viewer may not use; an analyst (by a group
claim) uploads and reviews; an admin (invited by email) changes a member's role and
finds it on the Audit page. Each of these actions is in the audit trail (the table
itself, read after each test), by the user who did it, in Acme.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from brandmood.core.access import Role
from brandmood.core.settings import load_config
from brandmood.services import access
from db.workspace import open_workspace
from tests.e2e.conftest import EXE, REPO, _free_port, choose_files, pick
from tests.pages.fill import fill
from tests.pages.secret_brand import add_secret_brand

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

SECRET_WORDS = ("Zenith", "Zephyr", "Zora")
VIEWER = {"sub": "viewer-sub", "email": "viewer@acme.test", "name": "Vera Viewer"}
ANALYST = {"sub": "analyst-sub", "email": "analyst@acme.test", "name": "Andy Analyst",
           "groups": ["brand:Acme:analyst"]}
ADMIN = {"sub": "admin-sub", "email": "admin@acme.test", "name": "Ada Admin"}


@dataclass
class Site:
    url: str
    home: Path
    ids: dict
    secret: dict

    def audit(self, user: str) -> list[tuple]:
        """``(action, brand, object)`` of the user's audit events, oldest first."""
        return self.db("SELECT action, brand, object_kind || ':' || object_id FROM audit_events "
                       f"WHERE actor = '{user}' ORDER BY id")

    def db(self, sql: str) -> list[tuple]:
        engine = create_engine(f"sqlite:///{self.home / 'brandmood.db'}")
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql))]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory, media) -> Iterator[Site]:
    """The identity provider and ``brandmood serve`` with sign-in, on a workspace with
    Acme and the secret brand; Acme's members: the viewer (by subject), the admin (by
    email) and Vera, invited and not signed in yet."""
    from oidc_provider_mock import User, run_server_in_thread

    tmp = tmp_path_factory.mktemp("access")
    home = tmp / "ws"
    ws = open_workspace(load_config({**os.environ, "BRANDMOOD_HOME": str(home),
                                     "BRANDMOOD_DATABASE_URL": ""}))
    ids = fill(ws, media)
    secret = add_secret_brand(ws, media, ids)
    op = access.cli_operator()
    with ws.sessions.begin() as s:
        for user, role in (("viewer-sub", Role.VIEWER), ("admin@acme.test", Role.ADMIN),
                           ("vera@acme.test", Role.VIEWER)):
            access.set_member(s, op, brand_id=ids["brand"], user=user, role=role)
        access.set_member(s, op, brand_id=secret["brand"], user="zenith-member@zenith.example",
                          role=Role.ANALYST)  # an event of the other brand in the trail
    ws.close()
    users = [User(sub=u["sub"], claims={k: v for k, v in u.items() if k != "sub"})
             for u in (VIEWER, ANALYST, ADMIN)]
    with run_server_in_thread(user_claims=users) as provider:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "BRANDMOOD_HOME": str(home),
               "BRANDMOOD_CACHE": str(load_config().cache_dir),
               "BRANDMOOD_OIDC_METADATA_URL":
                   f"http://localhost:{provider.server_port}/.well-known/openid-configuration",
               "BRANDMOOD_OIDC_CLIENT_ID": "brandmood-e2e",
               "BRANDMOOD_OIDC_CLIENT_SECRET": "e2e-client-secret",
               "BRANDMOOD_COOKIE_SECRET": "e2e-cookie-secret-" + "x" * 30,
               "BRANDMOOD_PUBLIC_URL": url}
        env.pop("BRANDMOOD_DATABASE_URL", None)
        log_path = tmp / "serve.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen([str(EXE), "serve", "--port", str(port)], cwd=REPO,
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(url, proc, log_path)
            yield Site(url, home, ids, secret)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            served = log_path.read_text(errors="replace")
            assert "e2e-client-secret" not in served and "e2e-cookie-secret" not in served


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"brandmood serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


def _settle(page) -> None:
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)


def _sign_in(page, site: Site, user: dict) -> None:
    page.goto(site.url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=user["sub"], exact=True).click()  # the provider's form
    page.get_by_text(f"Signed in as {user['name']}").wait_for()
    _settle(page)


def _links(page) -> set[str]:
    links = page.locator('[data-testid="stSidebar"] .st-key-nav a')
    links.first.wait_for()
    _settle(page)
    return {links.nth(i).inner_text().split("\n")[-1].strip() for i in range(links.count())}


def _open(page, site: Site, path: str, ready: str) -> str:
    page.goto(f"{site.url}/{path}")
    page.get_by_text(ready, exact=False).first.wait_for()
    _settle(page)
    return page.locator("body").inner_text()


def test_a_viewer_sees_only_their_brand_and_is_refused_elsewhere(site, browser_page):
    page = browser_page
    _sign_in(page, site, VIEWER)
    links = _links(page)
    assert links == {"Overview", "Campaigns", "Channels", "Ambassadors", "Assets", "Reports",
                     "Fairness", "Responsible use"}, links
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    options = page.get_by_role("option")
    options.first.wait_for()
    assert [options.nth(i).inner_text() for i in range(options.count())] == ["Acme"]
    page.keyboard.press("Escape")
    ready = {"": "Overview", "campaigns": "Emotion share per campaign",
             "channels": "Emotion share per channel", "ambassadors": "Emotion share per",
             "assets": "assets match", "reports": "Exports contain"}
    for path, text_ready in ready.items():
        body = _open(page, site, path, text_ready)
        assert not [w for w in SECRET_WORDS if w in body], path
        assert "Traceback" not in body
        assert "brand=Acme" in page.url, path  # the sidebar's brand, mirrored in the URL
    refusals = {
        "?brand=Zenith%20Confidential": "Access refused: the brand 'Zenith Confidential' is "
                                        "not available to you",
        f"assets?asset={site.secret['asset']}":
            f"Access refused: asset #{site.secret['asset']} is not available to you",
        f"?campaigns={site.secret['campaign']}":
            f"Access refused: campaign #{site.secret['campaign']} is not available",
        "upload": "Access refused: the Upload page needs the analyst role in a brand",
        "settings": "Access refused: the Settings page needs a workspace owner",
        "members": "Access refused: the Members page needs the admin role in a brand",
        "audit": "Access refused: the Audit page needs the admin role in a brand"}
    for path, message in refusals.items():
        body = _open(page, site, path, message)
        assert not [w for w in ("Zephyr", "Zora", "zenith-secret") if w in body], path
    assert site.db("SELECT last_sign_in_at IS NOT NULL FROM app_user "
                   "WHERE subject = 'viewer-sub'") == [(1,)]
    (signed_in,) = site.audit(VIEWER["email"])  # one sign-in per browser session
    assert signed_in[0] == "sign_in" and signed_in[2].startswith("user:")


def test_an_analyst_uploads_and_reviews(site, browser_page, media):
    page = browser_page
    _sign_in(page, site, ANALYST)
    assert {"Upload", "Review", "Jobs"} <= _links(page) and "Members" not in _links(page)
    _open(page, site, "upload", "Drop images")
    assert page.get_by_role("textbox", name="Brand").input_value() == "Acme"
    choose_files(page, media.path("Image_with_alpha.png"))
    page.get_by_role("button", name="Upload and analyze").click()
    page.get_by_text("stored and analyzed").wait_for(timeout=300_000)
    _settle(page)
    assert site.db("SELECT b.name FROM asset a JOIN brand b ON b.id = a.brand_id "
                   "WHERE a.source_uri LIKE '%Image_with_alpha.png'") == [("Acme",)]
    # an analyst of Acme may not upload into the other brand (or create one)
    page.get_by_role("textbox", name="Brand").fill("Zenith Confidential")
    choose_files(page, media.path("single_face.jpg"))
    page.get_by_role("button", name="Upload and analyze").click()
    page.get_by_text("Access refused: you may not upload into").wait_for()
    _open(page, site, "review", "Model says")
    page.get_by_role("button", name="Confirm", exact=False).first.click()
    page.get_by_text("saved as").wait_for()
    assert site.db("SELECT reviewer FROM review WHERE reviewer = 'analyst@acme.test'") == \
        [("analyst@acme.test",)]
    assert site.db("SELECT count(*) FROM asset WHERE brand_id = "
                   f"{site.secret['brand']}") == [(2,)]
    (face_id,) = site.db("SELECT face_id FROM review WHERE reviewer = 'analyst@acme.test'")[0]
    (job_id,) = site.db("SELECT id FROM job WHERE kind = 'upload'")[0]
    trail = site.audit(ANALYST["email"])
    assert [a for a, _, _ in trail if a == "sign_in"], trail  # a page load signs in again
    assert [t for t in trail if t[0] != "sign_in"] == [
        ("upload", "Acme", f"job:{job_id}"), ("review", "Acme", f"face:{face_id}")], trail
    assert site.db(f"SELECT brand FROM audit_events WHERE action = 'job' AND object_id = "
                   f"'{job_id}' AND actor = 'system'") == [("Acme",)]  # the worker's record


def test_an_admin_changes_a_role(site, browser_page):
    page = browser_page
    _sign_in(page, site, ADMIN)
    links = _links(page)
    assert "Members" in links and "Settings" not in links, links
    body = _open(page, site, "members", "Change a role")
    assert "zenith" not in body.lower(), body
    form = page.locator('[data-testid="stForm"]').filter(has_text="Change a role")
    pick(page, form.locator('[data-testid="stSelectbox"]').filter(has_text="Member"),
         "vera@acme.test")
    pick(page, form.locator('[data-testid="stSelectbox"]').filter(has_text="New role"), "analyst")
    form.get_by_role("button", name="Change role").click()
    page.get_by_text("vera@acme.test: viewer → analyst in Acme.").wait_for()
    role = site.db("SELECT m.role FROM membership m JOIN app_user u ON u.id = m.user_id "
                   "WHERE u.email = 'vera@acme.test'")
    assert role == [("analyst",)], role
    assert [t for t in site.audit(ADMIN["email"]) if t[0] != "sign_in"] == [
        ("membership_change", "Acme", "user:vera@acme.test")]
    assert "Audit" in links
    ((acme_events,),) = site.db("SELECT count(*) FROM audit_events WHERE brand = 'Acme'")
    assert site.db("SELECT count(*) FROM audit_events WHERE brand IS NOT NULL AND "
                   "brand != 'Acme'") != [(0,)]  # the other brand has events: not shown
    body = _open(page, site, "audit", " events.")
    assert f"{acme_events} events." in body, body[-300:]  # Acme's, and only Acme's
