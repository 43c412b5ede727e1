"""A skin-tone estimate per face crop, and the numbers of a fairness check per group.

**What the estimate is.** The individual typology angle (ITA) of the skin pixels of a face
crop, in CIELAB (D65): ``ITA = arctan((L* − 50) / b*) × 180 / π``, binned into the usual
six categories (:data:`ITA_BOUNDS`). It describes the *appearance of the crop*: lighting,
white balance, make-up and filters move it. It is not ethnicity, not identity and not a
property of the person; brandmood keeps it on the face row only, to check whether the
emotion model treats faces of different appearance alike.

**How.** Each face is cut as a 64×64 square around the detector's box, eyes level
(:data:`ITA_SPEC`, :func:`analytics.align.crop_faces`), and the pixels of both cheeks and
the forehead (:data:`SKIN_REGIONS`, fractions of the crop) are converted to CIELAB with
scikit-image. Shadows, brows, hair and highlights are trimmed away by keeping the pixels
between the 10th and 90th percentile of L*; the angle is computed from the median L* and
the median b* of the rest. Where b* is below :data:`MIN_B` (a grey photo, a blue cast)
the angle says nothing about skin and is NaN ("not estimated").

**The check.** :func:`group_stats` turns counted faces (grouped by skin-tone group, model
label, top emotion and reviewed label) into per-group numbers with 95 % Wilson intervals,
and :func:`disparities` flags a group whose rate of a negative emotion (or whose anger
false-positive rate) differs from the other groups': the 95 % interval of the difference
of the two proportions (Newcombe's hybrid score interval, built from the two Wilson
intervals) excludes zero.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from analytics.aggregate import Share, shares, wilson_interval
from analytics.align import crop_faces
from analytics.classifiers.base import InputSpec
from brandmood.core.types import LABELS, UNCERTAIN, Emotion, FaceDetections

ITA_KEY = "ita"
"""The key of the ``(n,)`` ITA array (degrees, NaN: not estimated) the analysis pipeline
puts in :attr:`FaceDetections.extra`."""

ITA_SPEC = InputSpec(size=64, margin=0.0)
"""The crop the estimate is computed on: 64×64, the detector's box with no margin."""

SKIN_REGIONS: tuple[tuple[float, float, float, float], ...] = (
    (0.50, 0.68, 0.16, 0.36),  # left cheek: rows y0–y1, columns x0–x1 (fractions)
    (0.50, 0.68, 0.64, 0.84),  # right cheek
    (0.06, 0.20, 0.32, 0.68),  # forehead (above the brows)
)
"""Where the skin is in an aligned crop: cheeks beside the nose, below the eyes, and the
forehead strip below the box's top edge."""

TRIM = (10.0, 90.0)
"""Percentiles of L* kept (shadows, brows, hair and specular highlights fall outside)."""

MIN_B = 3.0
"""Below this median b* the crop has (almost) no yellow: the angle is not estimated."""

MIN_PIXELS = 20
"""Fewest skin pixels an estimate needs."""


class SkinToneGroup(enum.StrEnum):
    """The ITA categories (Chardon et al. 1991; Del Bino et al. 2006)."""

    VERY_LIGHT = "very light"
    LIGHT = "light"
    INTERMEDIATE = "intermediate"
    TAN = "tan"
    BROWN = "brown"
    DARK = "dark"


ITA_BOUNDS: tuple[tuple[float, SkinToneGroup], ...] = (
    (55.0, SkinToneGroup.VERY_LIGHT),
    (41.0, SkinToneGroup.LIGHT),
    (28.0, SkinToneGroup.INTERMEDIATE),
    (10.0, SkinToneGroup.TAN),
    (-30.0, SkinToneGroup.BROWN),
)
"""``(lower bound, group)`` from the top: an angle above the bound (strictly) falls in the
group; at or below −30° it is :attr:`SkinToneGroup.DARK`. So: very light > 55°,
light 41–55°, intermediate 28–41°, tan 10–28°, brown −30–10°, dark ≤ −30°."""

LOWEST_GROUP = SkinToneGroup.DARK

NOT_ESTIMATED = "not estimated"
"""The group of faces without an angle (not yet computed, or not estimable)."""

GROUP_ORDER: tuple[str, ...] = (*(g.value for g in SkinToneGroup), NOT_ESTIMATED)

NEGATIVE_EMOTIONS: tuple[Emotion, ...] = (Emotion.ANGER, Emotion.DISGUST, Emotion.FEAR,
                                          Emotion.SAD, Emotion.CONTEMPT)
"""The emotions whose rates the disparity check compares."""


# ---------------------------------------------------------------------------- the estimate

def ita_degrees(lightness: float, b: float) -> float:
    """``arctan((L* − 50) / b*)`` in degrees (NaN where ``b*`` is below :data:`MIN_B`)."""
    if not b >= MIN_B:
        return math.nan
    return math.degrees(math.atan((lightness - 50.0) / b))


def ita_group(angle: float | None) -> SkinToneGroup | None:
    """The ITA category of an angle in degrees (None for None or NaN)."""
    if angle is None or math.isnan(angle):
        return None
    for bound, group in ITA_BOUNDS:
        if angle > bound:
            return group
    return LOWEST_GROUP


def skin_mask(size: int) -> np.ndarray:
    """``(size, size)`` bool: the pixels of :data:`SKIN_REGIONS` in a crop of that side."""
    mask = np.zeros((size, size), bool)
    for y0, y1, x0, x1 in SKIN_REGIONS:
        mask[round(y0 * size):round(y1 * size), round(x0 * size):round(x1 * size)] = True
    return mask


def ita_of_crops(crops: np.ndarray) -> np.ndarray:
    """The ITA of each aligned face crop.

    Args:
        crops: ``(n, S, S, 3)`` uint8 RGB crops cut like :data:`ITA_SPEC` (any ``S``).

    Returns:
        ``(n,)`` float64 angles in degrees, NaN where not estimated.

    Raises:
        ValueError: for an array that is not ``(n, S, S, 3)`` uint8.
    """
    from skimage.color import rgb2lab

    arr = np.asarray(crops)
    if arr.ndim != 4 or arr.shape[3] != 3 or arr.shape[1] != arr.shape[2] \
            or arr.dtype != np.uint8:
        raise ValueError(f"crops must be (n, S, S, 3) uint8, got {arr.shape} {arr.dtype}")
    out = np.full(len(arr), np.nan)
    if len(arr) == 0:
        return out
    pixels = arr[:, skin_mask(arr.shape[1])]  # (n, k, 3)
    lab = rgb2lab(pixels.reshape(-1, 1, 3)).reshape(len(arr), -1, 3)
    for i, face in enumerate(lab):
        lo, hi = np.percentile(face[:, 0], TRIM)
        kept = face[(face[:, 0] >= lo) & (face[:, 0] <= hi)]
        if len(kept) >= MIN_PIXELS:
            out[i] = ita_degrees(float(np.median(kept[:, 0])), float(np.median(kept[:, 2])))
    return out


def ita_of_faces(image: np.ndarray, faces: FaceDetections) -> np.ndarray:
    """The ITA of every face of an image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        faces: the faces found in it (boxes ``(n, 4)`` and landmarks ``(n, 5, 2)`` in its
            pixels).

    Returns:
        ``(n,)`` float64 degrees, NaN where not estimated.
    """
    if len(faces) == 0:
        return np.zeros(0)
    return ita_of_crops(crop_faces(image, faces, ITA_SPEC))


def with_ita(image: np.ndarray, faces: FaceDetections) -> FaceDetections:
    """``faces`` with their ITA (``(n,)``) under :data:`ITA_KEY` in ``extra``."""
    return replace(faces, extra={**faces.extra, ITA_KEY: ita_of_faces(image, faces)})


# ---------------------------------------------------------------------------- the check

@dataclass(frozen=True)
class Rate:
    """``count / total`` with its 95 % Wilson interval (``rate`` 0 where ``total`` is 0)."""

    count: int
    total: int
    rate: float
    low: float
    high: float

    @classmethod
    def of(cls, count: int, total: int) -> Rate:
        """Raises ValueError unless ``0 <= count <= total``."""
        low, high = wilson_interval(count, total)
        return cls(count, total, count / total if total else 0.0, low, high)


@dataclass(frozen=True)
class Difference:
    """``a.rate − b.rate`` with the 95 % interval of Newcombe's hybrid score method."""

    a: Rate
    b: Rate
    diff: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0


def difference(a: Rate, b: Rate) -> Difference:
    """The difference of two independent proportions with its 95 % interval.

    Newcombe (1998), method 10: ``d ± sqrt`` of the squared distances from each rate to
    the near ends of the two Wilson intervals.

    Raises:
        ValueError: where either total is 0.
    """
    if a.total == 0 or b.total == 0:
        raise ValueError("both proportions need at least one observation")
    d = a.rate - b.rate
    low = d - math.sqrt((a.rate - a.low) ** 2 + (b.high - b.rate) ** 2)
    high = d + math.sqrt((a.high - a.rate) ** 2 + (b.rate - b.low) ** 2)
    return Difference(a, b, d, max(-1.0, low), min(1.0, high))


@dataclass(frozen=True)
class Cell:
    """Counted faces that share a group, a model label, a top emotion and a review.

    Attributes:
        group: a :class:`SkinToneGroup` value or :data:`NOT_ESTIMATED`.
        label: the label the face counts under (an emotion or ``"uncertain"``).
        dominant: the model's top emotion (also for faces flagged uncertain).
        review: the consensus label of its reviews (None: none, pending or disputed).
        faces: how many faces.
        confidence_sum, confidence_n: sum and count of their known confidences.
    """

    group: str
    label: str
    dominant: Emotion
    review: Emotion | None
    faces: int
    confidence_sum: float = 0.0
    confidence_n: int = 0


@dataclass(frozen=True)
class GroupStats:
    """One group's numbers.

    Attributes:
        shares: one :class:`Share` per label (:data:`LABELS` order), 95 % Wilson.
        mean_confidence: mean top probability (None: none known).
        accuracy: reviewed faces whose top emotion is the reviewed label (None: no review).
        anger_fpr: among reviewed faces whose reviewed label is not anger, those whose top
            emotion is anger (None: no such review).
    """

    group: str
    faces: int
    shares: list[Share]
    mean_confidence: float | None
    reviewed: int
    accuracy: Rate | None
    anger_fpr: Rate | None

    def share(self, label: str) -> Share:
        return self.shares[LABELS.index(label)]


def group_stats(cells: Iterable[Cell]) -> list[GroupStats]:
    """Per-group numbers of counted faces, groups in :data:`GROUP_ORDER` (empty ones left
    out).

    Raises:
        ValueError: for an unknown group or label.
    """
    by_group: dict[str, list[Cell]] = {}
    for c in cells:
        if c.group not in GROUP_ORDER:
            raise ValueError(f"unknown group {c.group!r}")
        by_group.setdefault(c.group, []).append(c)
    out = []
    for group in GROUP_ORDER:
        cs = [c for c in by_group.get(group, []) if c.faces]
        if not cs:
            continue
        counts: dict[str, int] = {}
        for c in cs:
            counts[c.label] = counts.get(c.label, 0) + c.faces
        conf_n = sum(c.confidence_n for c in cs)
        reviewed = [c for c in cs if c.review is not None]
        n_rev = sum(c.faces for c in reviewed)
        right = sum(c.faces for c in reviewed if c.dominant is c.review)
        not_anger = [c for c in reviewed if c.review is not Emotion.ANGER]
        fp = sum(c.faces for c in not_anger if c.dominant is Emotion.ANGER)
        n_not_anger = sum(c.faces for c in not_anger)
        out.append(GroupStats(
            group=group, faces=sum(counts.values()), shares=shares(counts),
            mean_confidence=sum(c.confidence_sum for c in cs) / conf_n if conf_n else None,
            reviewed=n_rev, accuracy=Rate.of(right, n_rev) if n_rev else None,
            anger_fpr=Rate.of(fp, n_not_anger) if n_not_anger else None))
    return out


@dataclass(frozen=True)
class Disparity:
    """A group whose rate differs from the other estimated groups' beyond the interval.

    Attributes:
        group: the group.
        measure: ``"<emotion> rate"`` (share of its counted faces) or
            ``"anger false-positive rate"``.
        difference: the group's rate against the pooled rate of the other groups.
    """

    group: str
    measure: str
    difference: Difference

    @property
    def higher(self) -> bool:
        return self.difference.diff > 0


def _rest(stats: Sequence[GroupStats], group: str) -> list[GroupStats]:
    return [s for s in stats if s.group != group and s.group != NOT_ESTIMATED]


def disparities(stats: Sequence[GroupStats]) -> list[Disparity]:
    """Every (estimated group, measure) whose difference from the rest is significant.

    Measures: the rate of each of :data:`NEGATIVE_EMOTIONS` among the group's counted
    faces, and the anger false-positive rate where reviews exist. "The rest" pools the
    other estimated groups; faces without an estimate take no part.
    """
    out = []
    for s in stats:
        if s.group == NOT_ESTIMATED:
            continue
        rest = _rest(stats, s.group)
        rest_faces = sum(r.faces for r in rest)
        if rest_faces:
            for e in NEGATIVE_EMOTIONS:
                d = difference(Rate.of(s.share(e.value).count, s.faces),
                               Rate.of(sum(r.share(e.value).count for r in rest), rest_faces))
                if d.significant:
                    out.append(Disparity(s.group, f"{e.value} rate", d))
        rest_fpr = [r.anger_fpr for r in rest if r.anger_fpr is not None]
        if s.anger_fpr is not None and sum(r.total for r in rest_fpr):
            d = difference(s.anger_fpr, Rate.of(sum(r.count for r in rest_fpr),
                                                sum(r.total for r in rest_fpr)))
            if d.significant:
                out.append(Disparity(s.group, "anger false-positive rate", d))
    return out


__all__ = ["GROUP_ORDER", "ITA_BOUNDS", "ITA_KEY", "ITA_SPEC", "NEGATIVE_EMOTIONS",
           "NOT_ESTIMATED", "UNCERTAIN", "Cell", "Difference", "Disparity", "GroupStats",
           "Rate", "SkinToneGroup", "difference", "disparities", "group_stats", "ita_degrees",
           "ita_group", "ita_of_crops", "ita_of_faces", "skin_mask", "with_ita"]
