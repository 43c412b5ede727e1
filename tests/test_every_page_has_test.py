"""Meta-test: every page file has a test that renders it.

A page ``pages/<name>.py`` needs a test module (``test_*.py`` under ``tests/``, the browser
tests in ``tests/e2e`` not counted, since they may be skipped) that defines tests and
names the page file as a string, e.g. ``run_page("<name>.py")`` or
``… / "pages" / "<name>.py"``; the default page may instead be run as the whole app
(``run_page()`` in ``tests/pages/test_overview.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (REPO / "pages").glob("*.py") if not p.name.startswith("_"))
DEFAULT_PAGE = "overview.py"


def _test_texts() -> dict[Path, str]:
    out = {}
    for path in (REPO / "tests").rglob("test_*.py"):
        if "e2e" in path.parts or path.resolve() == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")
        if "def test_" in text:
            out[path] = text
    return out


TEXTS = _test_texts()


def test_there_are_pages():
    assert len(PAGES) >= 10, [p.name for p in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_has_a_test(page: Path):
    quoted = f'"{page.name}"'
    found = [p for p, t in TEXTS.items() if quoted in t]
    if page.name == DEFAULT_PAGE:
        overview = REPO / "tests" / "pages" / "test_overview.py"
        found += [overview] if "run_page()" in TEXTS.get(overview, "") else []
    assert found, (f"pages/{page.name} has no test: add tests/pages/test_{page.stem}.py that "
                   f'renders it (run_page("{page.name}"))')


def test_app_navigates_to_every_page():
    app = (REPO / "app.py").read_text()
    for page in PAGES:
        assert f'"{page.name}"' in app, f"app.py does not list {page.name}"
