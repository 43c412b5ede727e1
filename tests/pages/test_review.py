"""Review page: the most uncertain face first; confirm and relabel store Review rows."""

from __future__ import annotations

from tests.pages import expected
from tests.pages.conftest import run_page


def _reviews(ws) -> list[tuple[int, str, str]]:
    from sqlalchemy import text

    with ws.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            text("SELECT face_id, label, reviewer FROM review ORDER BY id"))]


def test_review_confirm_and_relabel(filled):
    ws, ids = filled.ws, filled.ids
    at = run_page("review.py")
    # the most uncertain unreviewed face: flagged uncertain, lowest confidence
    [first] = expected.review_queue(ws, brand=ids["brand"], limit=1, reviewer="maria")
    assert any(f"face #{first} " in " ".join(i.captions) for i in at.get("image"))
    at.text_input(key="rv_name").set_value("maria")
    at.button(key="rv_confirm").click().run()
    top = expected.scalar(ws, "SELECT dominant FROM face WHERE id = :f", f=first)
    assert _reviews(ws)[-1] == (first, top, "maria")
    assert any(f"Face #{first} saved as {top}" in s.value for s in at.success)
    [second] = expected.review_queue(ws, brand=ids["brand"], limit=1, reviewer="maria")
    assert second != first
    at.button(key="rv_sad").click().run()
    assert _reviews(ws)[-1] == (second, "sad", "maria")
    # no name, no sign-in: the review is the local admin's
    at.text_input(key="rv_name").set_value("").run()
    [third] = expected.review_queue(ws, brand=ids["brand"], limit=1, reviewer="local admin")
    at.button(key="rv_fear").click().run()
    assert _reviews(ws)[-1] == (third, "fear", "local admin")


def test_review_page_empty(empty_home):
    at = run_page("review.py")
    assert any("No data yet" in i.value for i in at.info)
