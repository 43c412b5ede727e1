"""Agreement statistics: alpha against Krippendorff's published worked example, pairwise
agreement and the confusion matrices against counts made by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.agreement import (
    ReviewedUnit,
    agreement,
    alpha_nominal,
    alpha_per_class,
    consensus,
    pairwise,
    reviewer_confusion,
)
from brandmood.core.types import EMOTIONS, Emotion, ReviewState

N = np.nan
KRIPPENDORFF_2011 = np.array([
    # Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), section C:
    # nominal data, four observers, twelve units, missing values ("."); alpha = 0.743
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],   # observer A
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],   # observer B
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],   # observer C
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],   # observer D
])


def test_alpha_matches_krippendorffs_worked_example():
    assert alpha_nominal(KRIPPENDORFF_2011) == pytest.approx(0.743, abs=0.0005)


def test_units_coded_once_do_not_change_alpha():
    extra = np.hstack([KRIPPENDORFF_2011, [[7], [N], [N], [N]]])  # a value nobody else used
    assert alpha_nominal(extra) == pytest.approx(alpha_nominal(KRIPPENDORFF_2011))


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_pairs():
    assert alpha_nominal(np.array([[0, 1, 2, 1], [0, 1, 2, 1.0]])) == pytest.approx(1.0)
    assert alpha_nominal(np.array([[0, N], [N, 1.0]])) is None  # no face labelled twice
    assert alpha_nominal(np.array([[3, 3], [3, 3.0]])) is None  # one value: undefined


def test_per_class_alpha_is_the_binary_coding():
    m = np.array([[0, 1, 1, 2], [0, 1, 2, 2.0]])
    per = alpha_per_class(m)
    # happy (1) vs rest: [0,1,1,0] / [0,1,0,0]
    assert per[EMOTIONS[1]] == pytest.approx(alpha_nominal(np.array([[0, 1, 1, 0],
                                                                     [0, 1, 0, 0.0]])))
    assert per[Emotion.CONTEMPT] is None  # nobody used it: undefined


def _u(face: int, *ratings: tuple[str, Emotion], model: Emotion | None = None,
       k: int = 2) -> ReviewedUnit:
    state, label = consensus([lbl for _, lbl in ratings], k)
    return ReviewedUnit(face, tuple(ratings), model, state, label)


H, S, F, U = Emotion.HAPPY, Emotion.SAD, Emotion.FEAR, Emotion.SURPRISE


def test_consensus_is_a_strict_majority_once_k_reviews_exist():
    assert consensus([H], 1) == (ReviewState.AGREED, H)
    assert consensus([H], 2) == (ReviewState.PENDING, None)
    assert consensus([H, S], 2) == (ReviewState.DISPUTED, None)
    assert consensus([H, S, H], 3) == (ReviewState.AGREED, H)
    assert consensus([H, S, F], 3) == (ReviewState.DISPUTED, None)
    assert consensus([H, H, S, S], 3) == (ReviewState.DISPUTED, None)  # half is no majority
    with pytest.raises(ValueError):
        consensus([H], 0)


def test_pairwise_confusion_and_model_figures_by_hand():
    units = [_u(1, ("ana", H), ("bo", H), model=H),
             _u(2, ("ana", F), ("bo", U), model=U),          # disputed
             _u(3, ("ana", S), ("bo", S), ("cy", F), model=F),
             _u(4, ("cy", U), model=U)]                      # pending
    [ab, ac, bc] = pairwise(units)
    assert (ab.a, ab.b, ab.n, ab.agreement) == ("ana", "bo", 3, pytest.approx(2 / 3))
    assert (ac.n, ac.agreement, bc.n, bc.agreement) == (1, 0.0, 1, 0.0)
    # ana/bo labels: H,F,S vs H,U,S; kappa = (po - pe) / (1 - pe), po = 2/3,
    # pe = sum over labels of p_ana * p_bo = H 1/3*1/3 + S 1/3*1/3 = 2/9
    assert ab.kappa == pytest.approx((2 / 3 - 2 / 9) / (1 - 2 / 9))
    c = reviewer_confusion(units)
    i = EMOTIONS.index
    assert c[i(H), i(H)] == 2 and c[i(F), i(U)] == 1 and c[i(U), i(F)] == 1
    assert c[i(S), i(S)] == 2 and c[i(S), i(F)] == 2 and c[i(F), i(S)] == 2
    assert c.sum() == 2 + 2 + 6 and (c == c.T).all()
    a = agreement(units)
    assert a.states == {ReviewState.AGREED: 2, ReviewState.DISPUTED: 1,
                        ReviewState.PENDING: 1}
    assert a.percent_agreement == pytest.approx(4 / 10)
    assert (a.model.n, a.model.accuracy) == (2, 0.5)  # face 1 right, face 3 (sad) said fear
    assert a.model.confusion[i(S), i(F)] == 1 and a.model.confusion[i(H), i(H)] == 1
    assert a.reviewers == ("ana", "bo", "cy") and a.multiply_reviewed == 3
