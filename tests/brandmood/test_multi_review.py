"""Reviews by several people, end to end at the service level on SQLite and PostgreSQL:
k reviews per face, each reviewer's queue, the consensus and disputed faces against counts
made here by hand, what fine-tuning learns from, and the agreement figures in a brand scope.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from analytics.agreement import consensus
from brandmood.core.access import AccessDenied, BrandScope
from brandmood.core.settings import SettingError
from brandmood.core.types import EMOTIONS, Emotion, ReviewState
from brandmood.services.agreement import agreement_report, human_ceiling
from brandmood.services.finetune import reviewed_crops
from db.models import Face, Review
from db.queries import dashboard as dq
from db.queries import model_versions as mv
from db.queries import review as rq
from db.queries.consensus import review_states
from db.queries.selection import DashboardFilters
from tests.pages import expected
from tests.pages.fill import fill
from tests.pages.secret_brand import add_secret_brand

ALL = BrandScope.ALL


@pytest.fixture
def two(any_ws, media):
    """Acme (with its counted faces) and the secret brand, on each backend."""
    ids = fill(any_ws, media)
    secret = add_secret_brand(any_ws, media, ids)
    return any_ws, ids, secret, BrandScope.of([ids["brand"]])


def _queue(ws, who: str, f: DashboardFilters) -> list[int]:
    with ws.session() as s:
        return [q.face_id for q in rq.review_queue(session=s, filters=f, reviewer=who,
                                                   limit=1000)]


def _review(ws, who: str, labels: dict[int, Emotion], scope: BrandScope) -> None:
    with ws.sessions.begin() as s:
        for face_id, label in labels.items():
            rq.store_review(session=s, face_id=face_id, label=label, scope=scope, reviewer=who)


def _set_k(ws, k: int) -> None:
    with ws.sessions.begin() as s:
        rq.set_setting(session=s, key=rq.SettingKey.REVIEWS_PER_FACE, value=str(k))


def _states(ws) -> dict[int, tuple[str, str | None]]:
    st = review_states()
    with ws.session() as s:
        return {f: (state, label) for f, state, label
                in s.execute(select(st.c.face_id, st.c.state, st.c.label))}


def test_two_reviewers_queue_consensus_and_disputed(two):
    ws, ids, _secret, a_only = two
    brand = ids["brand"]
    f = DashboardFilters(brand_id=brand, scope=a_only)
    with ws.sessions.begin() as s:
        assert rq.reviews_per_face_of(session=s) == 1  # unset: the default
        for bad in ("0", "10", "two", "-1"):
            with pytest.raises(SettingError):
                rq.set_setting(session=s, key=rq.SettingKey.REVIEWS_PER_FACE, value=bad)
    _set_k(ws, 2)
    counted = [s.f["id"] for s in expected.counted(ws, brand=brand)]
    (tester_face,) = [r["face_id"] for r in expected.rows(ws, Review)
                      if r["face_id"] in counted]  # fill's one review of Acme
    # with k = 2, one review is not enough: every counted face waits in ana's queue
    assert sorted(_queue(ws, "ana", f)) == sorted(counted)
    assert _queue(ws, "tester", f) == expected.review_queue(ws, brand=brand, limit=1000,
                                                            reviewer="tester")
    assert tester_face not in _queue(ws, "tester", f)

    mine = [i for i in counted if i != tester_face][:6]
    ana = {fid: EMOTIONS[n % 3] for n, fid in enumerate(mine)}
    _review(ws, "ana", ana, a_only)
    assert not set(mine) & set(_queue(ws, "ana", f))       # she never sees them again
    assert set(mine) <= set(_queue(ws, "bo", f))            # bo still does
    bo = {fid: (lbl if n < 4 else Emotion.CONTEMPT) for n, (fid, lbl) in enumerate(ana.items())}
    _review(ws, "bo", bo, a_only)
    # two reviews each: nobody is asked for these faces any more
    assert not set(mine) & set(_queue(ws, "cy", f))
    assert _queue(ws, "cy", f) == expected.review_queue(ws, brand=brand, limit=1000,
                                                        reviewer="cy")

    # the independent count: agreed where ana and bo say the same, else disputed
    agreed = {fid: lbl for fid, lbl in ana.items() if bo[fid] is lbl}
    disputed = set(ana) - set(agreed)
    assert len(agreed) == 4 and len(disputed) == 2
    states = _states(ws)
    assert {fid for fid, (st, _) in states.items() if st == ReviewState.AGREED} == set(agreed)
    assert {fid for fid, (st, _) in states.items() if st == ReviewState.DISPUTED} == disputed
    assert states[tester_face] == (ReviewState.PENDING, None)
    assert {fid: states[fid][1] for fid in agreed} == {k: v.value for k, v in agreed.items()}
    seen = {s.f["id"]: s.review for s in expected.counted(ws, brand=brand)}
    assert {fid for fid, lbl in seen.items() if lbl is not None} == set(agreed)
    with ws.session() as s:
        p = rq.review_progress(session=s, scope=a_only, reviewer="ana")
        dominant = dict(s.execute(select(Face.id, Face.dominant)
                                  .where(Face.id.in_(list(agreed)))).all())
        # fine-tuning learns from the agreed faces only, with their consensus label
        train = {r.face.face_id: r.label for r in mv.reviewed_faces(session=s,
                                                                   brand_id=brand)}
    changed = sum(dominant[fid] is not lbl for fid, lbl in agreed.items())
    assert (p.agreed, p.changed, p.disputed, p.pending, p.mine, p.k) == (
        4, changed, 2, 1, 6, 2)
    assert train == agreed
    data, skipped = reviewed_crops(ws, brand_id=brand)
    assert len(data) + len(skipped) == len(agreed)
    assert sorted(EMOTIONS[i] for i in data.labels) == sorted(
        agreed[fid] for fid in agreed if fid not in dict(skipped))

    # k = 3: two reviews are no longer enough; a third reviewer settles a disputed face
    _set_k(ws, 3)
    assert all(st == ReviewState.PENDING for st, _ in _states(ws).values())
    settle = sorted(disputed)[0]
    _review(ws, "cy", {settle: ana[settle]}, a_only)
    assert _states(ws)[settle] == (ReviewState.AGREED, ana[settle].value)
    with ws.session() as s:
        assert [r.face.face_id for r in mv.reviewed_faces(session=s)] == [settle]


def _version(ws):
    with ws.session() as s:
        return dq.data_version(session=s)


def test_relabeling_replaces_the_reviewers_own_review(two):
    ws, ids, _secret, a_only = two
    face = expected.counted(ws, brand=ids["brand"])[0].f["id"]
    _review(ws, "ana", {face: Emotion.SAD}, a_only)
    before = _version(ws)
    _review(ws, "ana", {face: Emotion.FEAR}, a_only)
    after = _version(ws)
    _set_k(ws, 2)
    # cached dashboards are keyed by the data version: a relabel and a new k change it
    assert len({before, after, _version(ws)}) == 3
    rows = [(r["face_id"], r["reviewer"], r["label"]) for r in expected.rows(ws, Review)
            if r["reviewer"] == "ana"]
    assert rows == [(face, "ana", Emotion.FEAR)]
    with ws.sessions.begin() as s, pytest.raises(ValueError, match="reviewer"):
        rq.store_review(session=s, face_id=face, label=Emotion.SAD, scope=a_only, reviewer=" ")


def test_agreement_stays_in_the_callers_scope(two):
    ws, ids, secret, a_only = two
    faces = [s.f["id"] for s in expected.counted(ws, brand=ids["brand"])][:3]
    _review(ws, "ana", dict.fromkeys(faces, Emotion.HAPPY), a_only)
    _review(ws, "bo", {faces[0]: Emotion.HAPPY, faces[1]: Emotion.SAD,
                       faces[2]: Emotion.HAPPY}, a_only)
    with ws.session() as s:
        mine = agreement_report(session=s, scope=a_only).figures
        every = agreement_report(session=s, scope=ALL).figures
        with pytest.raises(AccessDenied):
            agreement_report(session=s, scope=a_only, brand_id=secret["brand"])
        ceiling = human_ceiling(session=s, brand_id=ids["brand"])
    assert "zenith-reviewer" not in mine.reviewers and "zenith-reviewer" in every.reviewers
    assert mine.faces == every.faces - 1
    [pair] = [p for p in mine.pairs if (p.a, p.b) == ("ana", "bo")]
    assert (pair.n, pair.agreement) == (3, pytest.approx(2 / 3))
    assert ceiling.percent_agreement == pytest.approx(2 / 3)
    assert ceiling.disputed == 1


@pytest.mark.parametrize("k", [1, 2, 3])
def test_the_sql_rule_and_the_plain_rule_agree(any_ws, media, k):
    ws = any_ws
    ids = fill(ws, media)
    faces = [s.f["id"] for s in expected.counted(ws, brand=ids["brand"])]
    rng = random.Random(k)
    given: dict[int, list[Emotion]] = {}
    for who in ("ana", "bo", "cy", "di"):
        picks = {fid: rng.choice(EMOTIONS[:3]) for fid in faces if rng.random() < 0.6}
        _review(ws, who, picks, ALL)
        for fid, lbl in picks.items():
            given.setdefault(fid, []).append(lbl)
    for r in expected.rows(ws, Review):
        if r["reviewer"] not in ("ana", "bo", "cy", "di"):
            given.setdefault(r["face_id"], []).append(r["label"])
    _set_k(ws, k)
    want = {fid: consensus(lbls, k) for fid, lbls in given.items()}
    got = _states(ws)
    assert {fid: (ReviewState(st), Emotion(lbl) if lbl else None)
            for fid, (st, lbl) in got.items()} == want
