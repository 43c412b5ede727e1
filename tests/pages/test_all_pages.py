"""Every page file, reached through the app's navigation, renders without an exception on a
filled workspace and on an empty one, and names the model behind its numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pages.conftest import run_page

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted(p.name for p in (REPO / "pages").glob("*.py") if not p.name.startswith("_"))
# pages that show numbers (Members shows people, Audit events, Ambassador faces its own matches)
OWN_PAGES = [p for p in PAGES if p not in {"ambassador_faces.py", "members.py", "audit.py"}]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_filled(filled, page):
    at = run_page(page)
    assert at.title, f"{page} shows no title"
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", OWN_PAGES)
def test_page_names_model(filled, page):
    at = run_page(page)
    assert any("fer-mini-xception@1.0" in c.value for c in at.caption), page


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_empty(empty_home, page):
    at = run_page(page)
    assert at.title, f"{page} shows no title"
    text = " ".join(x.value for x in [*at.info, *at.caption, *at.markdown])
    assert text, f"{page} tells a new user nothing"
