"""Review and Agreement pages with two signed-in reviewers and two reviews per face: each
sees faces the other labelled (never their label), and the Agreement page counts the
agreed and disputed faces they made."""

from __future__ import annotations

import json

import pytest

from brandmood.core.access import Role
from brandmood.services import access
from db.queries import review as rq
from tests.pages import expected
from tests.pages.conftest import run_page

ANA = {"sub": "ana-sub", "email": "ana@acme.test", "groups": ["brand:Acme:analyst"]}
BO = {"sub": "bo-sub", "email": "bo@acme.test"}  # an admin invited by email


@pytest.fixture
def two_reviewers(filled):
    op = access.cli_operator()
    with filled.ws.sessions.begin() as s:
        access.set_member(s, op, brand_id=filled.ids["brand"], user="bo@acme.test",
                          role=Role.ADMIN)
        rq.set_setting(session=s, key=rq.SettingKey.REVIEWS_PER_FACE, value="2")
        s.query(rq.Review).delete()  # fill's one review: these two start from none
    return filled


def _shown_face(at) -> int:
    [caption] = [c for i in at.get("image") for c in i.captions if c.startswith("face #")]
    return int(caption.split("#")[1].split()[0])


def _reviews(ws) -> list[tuple[int, str, str]]:
    return [(r["face_id"], r["reviewer"], r["label"].value) for r in expected.rows(ws, rq.Review)]


def test_two_reviewers_then_agreement(two_reviewers):
    ws = two_reviewers.ws
    brand = two_reviewers.ids["brand"]
    ana = run_page("review.py", user=ANA)
    first = _shown_face(ana)
    assert first == expected.review_queue(ws, brand=brand, limit=1, reviewer="ana@acme.test")[0]
    ana.button(key="rv_confirm").click().run()          # ana: the model's label
    second = _shown_face(ana)
    ana.button(key="rv_happy").click().run()            # ana: happy
    assert _reviews(ws)[-2:] == [
        (first, "ana@acme.test", expected.scalar(ws, "SELECT dominant FROM face WHERE id = :f",
                                                 f=first)),
        (second, "ana@acme.test", "happy")]
    # bo is shown the same faces (one review of two), and nothing of ana's labels
    bo = run_page("review.py", user=BO)
    assert _shown_face(bo) == first
    page_text = " ".join(str(e.value) for e in (*bo.markdown, *bo.caption, *bo.success))
    assert "ana@acme.test" not in page_text
    bo.button(key="rv_confirm").click().run()           # agrees with ana on the first
    assert _shown_face(bo) == second
    bo.button(key="rv_sad").click().run()               # disagrees on the second
    # both have labelled both faces, and two reviews is enough: gone from both queues
    for user in (ANA, BO):
        assert _shown_face(run_page("review.py", user=user)) not in (first, second)

    at = run_page("agreement.py", user=BO)
    assert [t.value for t in at.title] == ["Agreement"]
    m = {x.label: x.value for x in at.metric}
    assert (m["Reviews per face (k)"], m["Agreed"], m["Disputed"]) == ("2", "1", "1")
    assert m["Waiting for reviews"] == "0" and m["Faces reviewed"] == "2"
    assert m["Pairs of reviews alike"] == "50%"
    pairs = at.dataframe[1].value.to_dict("records")
    assert [(p["reviewer"], p["other reviewer"], p["faces both labelled"], p["agreement %"])
            for p in pairs] == [("ana@acme.test", "bo@acme.test", 2, 50.0)]
    left, right = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
    assert sum(map(sum, left["data"][0]["z"])) == 4       # two faces × two ordered pairs
    assert sum(map(sum, right["data"][0]["z"])) == 1      # the one agreed face


def test_agreement_page_without_reviews(filled):
    with filled.ws.sessions.begin() as s:
        s.query(rq.Review).delete()
    at = run_page("agreement.py")
    assert any("No reviews yet" in i.value for i in at.info)


def test_agreement_page_empty(empty_home):
    at = run_page("agreement.py")
    assert any("No data yet" in i.value for i in at.info)
