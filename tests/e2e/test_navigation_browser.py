"""The first seconds of a fresh server in Chromium: only the app's own navigation, ever.

Streamlit 1.67 takes an app with a ``pages/`` folder beside it for a pages-folder app
until ``st.navigation`` first runs: the first visitor saw the folder's file names
(lower-case, with an "app" entry) for about a second, and a first visit straight to a
page's URL ran that page file alone, without the app's navigation and filters. A
MutationObserver installed before the page loads records every link the sidebar ever
shows, so a list that flashes for a few milliseconds is caught too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TITLES = {"Overview", "Campaigns", "Channels", "Ambassadors", "Ambassador faces", "Assets",
          "Upload", "Review", "Agreement", "Reports", "Fairness", "Jobs", "Members", "Audit",
          "Settings",
          "Responsible use"}
SHOTS = REPO / "artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

RECORD_SIDEBAR_LINKS = """
window.__navSeen = new Set();
const record = () => document.querySelectorAll('[data-testid="stSidebar"] a').forEach(
    a => window.__navSeen.add(a.innerText.split('\\n').pop().trim()));
new MutationObserver(record).observe(document, {subtree: true, childList: true,
                                                characterData: true});
"""


def _first_visit(page, url: str, ready: str) -> set[str]:
    page.add_init_script(RECORD_SIDEBAR_LINKS)
    page.goto(url)
    page.get_by_text(ready, exact=False).first.wait_for()
    # the page's text can be drawn before the app's navigation reaches the sidebar on a busy
    # machine: wait for the navigation links (a page run alone would show the wrong ones)
    page.locator('[data-testid="stSidebar"] a').first.wait_for(state="attached",
                                                       timeout=60_000)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
    return set(page.evaluate("Array.from(window.__navSeen)"))


def test_first_load_shows_only_the_app_navigation(server, browser_page):
    url, _home = server
    seen = _first_visit(browser_page, url, "No data yet")
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser_page.screenshot(path=str(SHOTS / "first-load.png"))
    assert seen == TITLES  # never "app", "overview", "ambassador faces", … nor __init__
    browser_page.get_by_role("link", name="Jobs").click()
    browser_page.get_by_text("Ingest runs").wait_for()
    assert browser_page.url.endswith("/jobs")


def test_first_visit_straight_to_a_page_runs_it_inside_the_app(serve, browser_page):
    url, _home = serve(brand="Acme")  # a brand: the sidebar has filters
    seen = _first_visit(browser_page, f"{url}/upload", "Drop images")
    assert seen == TITLES
    sidebar = browser_page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Filters", exact=True).wait_for()
    sidebar.get_by_text("Brand", exact=True).wait_for()  # the filters' brand choice
    assert browser_page.title() == "brandmood"  # the app's page config, not the bare page
    # until an admin confirms the intended use, every page says so (here not the default
    # page: the banner is the app's, drawn before any page)
    browser_page.get_by_text("Intended use not confirmed yet").wait_for()
