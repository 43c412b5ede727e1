"""How much reviewers agree, and how the model compares with their consensus (pure).

Input: the reviewed faces (:class:`ReviewedUnit`: who gave which label, the model's top
emotion, and the consensus label and state the database computed). Output
(:func:`agreement`):

- Krippendorff's alpha for nominal data over every reviewed face (the ``krippendorff``
  package), and per class (one-vs-rest: each label against all others, alpha of that
  binary coding);
- per pair of reviewers, on the faces both labelled: percent agreement and Cohen's kappa
  (scikit-learn);
- the reviewer-vs-reviewer confusion matrix: for every face, every ordered pair of two
  different reviewers' labels (so it is symmetric, and its diagonal holds agreements);
- model vs consensus: accuracy and confusion matrix of the model's top emotion against the
  consensus label, over agreed faces.

:func:`consensus` states the consensus rule of :mod:`db.queries.consensus` in plain
Python: the label more than half of a face's reviews give, once it has at least ``k``.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from brandmood.core.types import EMOTIONS, Emotion, ReviewState


def consensus(labels: Sequence[Emotion], k: int) -> tuple[ReviewState, Emotion | None]:
    """The state and consensus label of a face whose reviews gave ``labels``.

    Raises:
        ValueError: ``k`` below 1.
    """
    if k < 1:
        raise ValueError(f"k (reviews per face) must be at least 1, got {k}")
    if len(labels) < k:
        return ReviewState.PENDING, None
    label, n = Counter(labels).most_common(1)[0]
    if 2 * n > len(labels):
        return ReviewState.AGREED, label
    return ReviewState.DISPUTED, None


@dataclass(frozen=True)
class ReviewedUnit:
    """One reviewed face.

    Attributes:
        face_id: the face.
        ratings: ``(reviewer, label)``, one per reviewer.
        model: the model's top emotion (None: the model gave none).
        state: where it stands by the consensus rule.
        consensus: its consensus label (None unless agreed).
    """

    face_id: int
    ratings: tuple[tuple[str, Emotion], ...]
    model: Emotion | None
    state: ReviewState
    consensus: Emotion | None


@dataclass(frozen=True)
class PairAgreement:
    """Two reviewers on the faces both labelled."""

    a: str
    b: str
    n: int
    agreement: float
    """Share of those faces they gave the same label."""
    kappa: float | None
    """Cohen's kappa (None: undefined, e.g. both used one label only)."""


@dataclass(frozen=True)
class ModelVsConsensus:
    """The model's top emotion against the consensus, on agreed faces."""

    n: int
    accuracy: float | None
    confusion: np.ndarray
    """``[consensus, model]`` counts in :data:`EMOTIONS` order."""


@dataclass(frozen=True)
class Agreement:
    """Every agreement figure of a set of reviewed faces."""

    faces: int
    ratings: int
    reviewers: tuple[str, ...]
    multiply_reviewed: int
    """Faces with at least two reviews (the only ones that show agreement)."""
    states: Mapping[ReviewState, int]
    alpha: float | None
    """Krippendorff's alpha, nominal (None: undefined, e.g. no face reviewed twice)."""
    alpha_per_class: Mapping[Emotion, float | None]
    pairs: tuple[PairAgreement, ...]
    percent_agreement: float | None
    """Share of pairs of reviews of the same face that agree (all pairs pooled)."""
    reviewer_confusion: np.ndarray
    """``[label of one reviewer, label of another]`` over every ordered pair of reviews
    of the same face, :data:`EMOTIONS` order."""
    model: ModelVsConsensus


def reliability_matrix(units: Sequence[ReviewedUnit]) -> tuple[tuple[str, ...], np.ndarray]:
    """``(reviewers, matrix)``: reviewers × faces, each cell the label's index in
    :data:`EMOTIONS` (NaN: that reviewer did not label that face)."""
    reviewers = tuple(sorted({r for u in units for r, _ in u.ratings}))
    row = {r: i for i, r in enumerate(reviewers)}
    m = np.full((len(reviewers), len(units)), np.nan)
    for j, u in enumerate(units):
        for r, label in u.ratings:
            m[row[r], j] = EMOTIONS.index(label)
    return reviewers, m


def alpha_nominal(matrix: np.ndarray) -> float | None:
    """Krippendorff's alpha for nominal data of a coders × units matrix (NaN: missing).

    None where it is undefined: fewer than two pairable values (no unit coded twice) or a
    single value throughout (no disagreement is expected, so none can be measured).
    """
    import krippendorff

    pairable = matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2]
    values = np.unique(pairable[~np.isnan(pairable)])
    if pairable.size == 0 or len(values) < 2:
        return None
    # units coded once add nothing to alpha: left out, so the domain is the pairable values
    return float(krippendorff.alpha(reliability_data=pairable, level_of_measurement="nominal",
                                    value_domain=sorted(values.tolist())))


def alpha_per_class(matrix: np.ndarray) -> dict[Emotion, float | None]:
    """One-vs-rest alpha per emotion: the matrix coded 1 for that label, 0 for any other."""
    out = {}
    for i, e in enumerate(EMOTIONS):
        binary = np.where(np.isnan(matrix), np.nan, (matrix == i).astype(float))
        out[e] = alpha_nominal(binary)
    return out


def pairwise(units: Sequence[ReviewedUnit]) -> tuple[PairAgreement, ...]:
    """Percent agreement and Cohen's kappa for every pair of reviewers with a face in
    common, by names."""
    from sklearn.metrics import cohen_kappa_score

    by_reviewer: dict[str, dict[int, Emotion]] = {}
    for u in units:
        for r, label in u.ratings:
            by_reviewer.setdefault(r, {})[u.face_id] = label
    out = []
    for a, b in itertools.combinations(sorted(by_reviewer), 2):
        common = sorted(by_reviewer[a].keys() & by_reviewer[b].keys())
        if not common:
            continue
        la = [by_reviewer[a][f].value for f in common]
        lb = [by_reviewer[b][f].value for f in common]
        agree = sum(x == y for x, y in zip(la, lb, strict=True)) / len(common)
        kappa = None
        if len(set(la) | set(lb)) > 1:
            with np.errstate(divide="ignore", invalid="ignore"):
                k = float(cohen_kappa_score(la, lb))
            kappa = None if math.isnan(k) else k
        out.append(PairAgreement(a, b, len(common), agree, kappa))
    return tuple(out)


def reviewer_confusion(units: Sequence[ReviewedUnit]) -> np.ndarray:
    """Counts of ``[label of one reviewer, label of another]`` over every ordered pair of
    two different reviewers' labels of the same face."""
    m = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
    for u in units:
        for (ra, la), (rb, lb) in itertools.permutations(u.ratings, 2):
            if ra != rb:
                m[EMOTIONS.index(la), EMOTIONS.index(lb)] += 1
    return m


def model_vs_consensus(units: Sequence[ReviewedUnit]) -> ModelVsConsensus:
    """The model's top emotion against the consensus label, on agreed faces."""
    m = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
    n = right = 0
    for u in units:
        if u.state is not ReviewState.AGREED or u.consensus is None:
            continue
        n += 1
        if u.model is not None:
            m[EMOTIONS.index(u.consensus), EMOTIONS.index(u.model)] += 1
            right += u.model is u.consensus
    return ModelVsConsensus(n, right / n if n else None, m)


def agreement(units: Sequence[ReviewedUnit]) -> Agreement:
    """Every agreement figure of ``units`` (see the module's docstring)."""
    reviewers, matrix = reliability_matrix(units)
    confusion = reviewer_confusion(units)
    pairs_total = int(confusion.sum())
    return Agreement(
        faces=len(units), ratings=sum(len(u.ratings) for u in units), reviewers=reviewers,
        multiply_reviewed=sum(len(u.ratings) >= 2 for u in units),
        states={s: sum(u.state is s for u in units) for s in ReviewState},
        alpha=alpha_nominal(matrix), alpha_per_class=alpha_per_class(matrix),
        pairs=pairwise(units),
        percent_agreement=(float(np.trace(confusion)) / pairs_total if pairs_total else None),
        reviewer_confusion=confusion, model=model_vs_consensus(units))
