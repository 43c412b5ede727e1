"""Pure aggregation helpers for the dashboard and reports: shares, intervals, changes.

Nothing here touches the database: the query module counts in SQL (GROUP BY) and hands
counts to these functions, which turn them into shares with confidence intervals.
scipy is imported only where a t quantile is needed (it is heavy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from brandmood.core.types import (
    LABELS,
    POSITIVE_EMOTIONS,
    UNCERTAIN,
    Emotion,
    add_counts,
    dominant_label,
)

__all__ = ["LABELS", "Change", "MeanStats", "Share", "add_counts", "change", "dominant_label",
           "emotion_or_uncertain", "label_order", "mean_stats", "positive_share", "shares",
           "weighted_mean_stats", "wilson_interval"]

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Share:
    """One label's share of a total, with a 95 % Wilson interval.

    Attributes:
        label: an emotion value or ``"uncertain"``.
        count: faces with that label.
        total: faces in the group.
        share: ``count / total`` (0 where the total is 0).
        low: lower bound of the 95 % Wilson score interval.
        high: upper bound.
    """

    label: str
    count: int
    total: int
    share: float
    low: float
    high: float


@dataclass(frozen=True)
class MeanStats:
    """Mean and median of a metric with a 95 % interval for the mean.

    Attributes:
        n: values used (NULL metrics are left out).
        mean: arithmetic mean (NaN for n = 0).
        median: median (NaN for n = 0).
        low: lower bound of the 95 % t interval for the mean (NaN for n < 2).
        high: upper bound.
    """

    n: int
    mean: float
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class Change:
    """A value against the previous period's value.

    Attributes:
        current: this period's value.
        previous: the previous period's value (None where unknown).
        delta: ``current - previous`` (None where unknown).
        relative: ``delta / previous`` (None where the previous value is 0 or unknown).
    """

    current: float
    previous: float | None
    delta: float | None
    relative: float | None


def wilson_interval(count: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Args:
        count: successes, ``0 <= count <= total``.
        total: trials.
        z: normal quantile (1.96 for 95 %).

    Returns:
        ``(low, high)`` in ``[0, 1]``; ``(0.0, 1.0)`` when ``total`` is 0.

    Raises:
        ValueError: for negative numbers or ``count > total``.
    """
    if count < 0 or total < 0 or count > total:
        raise ValueError(f"need 0 <= count <= total, got count={count}, total={total}")
    if total == 0:
        return 0.0, 1.0
    p = count / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    low = 0.0 if count == 0 else max(0.0, centre - half)
    high = 1.0 if count == total else min(1.0, centre + half)
    return low, high


def shares(counts: Mapping[str, int], *, labels: Sequence[str] = LABELS) -> list[Share]:
    """Shares of every label in ``labels`` order (labels missing from ``counts`` count 0).

    Args:
        counts: label → count (e.g. from a SQL GROUP BY); unknown labels raise.
        labels: the labels to report, in order.

    Raises:
        ValueError: for a label outside ``labels`` or a negative count.
    """
    unknown = set(counts) - set(labels)
    if unknown:
        raise ValueError(f"unknown labels: {sorted(unknown)}")
    if any(c < 0 for c in counts.values()):
        raise ValueError("counts must not be negative")
    total = int(sum(counts.values()))
    out = []
    for label in labels:
        c = int(counts.get(label, 0))
        low, high = wilson_interval(c, total)
        out.append(Share(label, c, total, c / total if total else 0.0, low, high))
    return out


def mean_stats(values: Sequence[float] | np.ndarray, z_fallback: float = Z95) -> MeanStats:
    """Mean, median and a 95 % t interval of the mean, NaN values left out.

    Args:
        values: ``(n,)`` numbers (NaN or None for missing).
        z_fallback: quantile used when SciPy is not importable.
    """
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    n = int(arr.size)
    if n == 0:
        return MeanStats(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(arr.mean())
    median = float(np.median(arr))
    if n < 2:
        return MeanStats(n, mean, median, math.nan, math.nan)
    sem = float(arr.std(ddof=1)) / math.sqrt(n)
    try:
        from scipy.stats import t as student_t

        q = float(student_t.ppf(0.975, n - 1))
    except ImportError:  # pragma: no cover - scipy ships with scikit-learn
        q = z_fallback
    return MeanStats(n, mean, median, mean - q * sem, mean + q * sem)


def change(current: float, previous: float | None) -> Change:
    """Period-over-period change of one number."""
    if previous is None:
        return Change(current, None, None, None)
    delta = current - previous
    relative = delta / previous if previous else None
    return Change(current, previous, delta, relative)


def positive_share(counts: Mapping[str, int]) -> float:
    """Share of faces with a positive emotion (see ``POSITIVE_EMOTIONS``) among all faces."""
    total = sum(counts.values())
    if not total:
        return 0.0
    return sum(counts.get(e.value, 0) for e in POSITIVE_EMOTIONS) / total


def label_order(label: str) -> int:
    """Position of a label in the fixed chart order.

    Raises:
        ValueError: for an unknown label.
    """
    try:
        return LABELS.index(label)
    except ValueError:
        raise ValueError(f"unknown label {label!r}") from None


def emotion_or_uncertain(value: str) -> str:
    """Validate a label (an emotion value or ``uncertain``) and return it normalized."""
    if value == UNCERTAIN:
        return value
    return Emotion.parse(value).value


def weighted_mean_stats(values: Sequence[float | None], counts: Sequence[int],
                        z_fallback: float = Z95) -> MeanStats:
    """:func:`mean_stats` of a histogram: each value repeated ``counts`` times.

    Gives the same mean, median and t interval as expanding the histogram, without the
    expansion (SQL returns ``GROUP BY value`` counts, not one row per asset).

    Args:
        values: ``(k,)`` distinct values (None or NaN: missing, left out).
        counts: ``(k,)`` how often each value occurs (non-negative).

    Raises:
        ValueError: for a negative count or mismatched lengths.
    """
    if len(values) != len(counts):
        raise ValueError(f"{len(values)} values but {len(counts)} counts")
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    c = np.asarray(counts, dtype=np.int64)
    if (c < 0).any():
        raise ValueError("counts must not be negative")
    keep = ~np.isnan(v) & (c > 0)
    v, c = v[keep], c[keep]
    n = int(c.sum())
    if n == 0:
        return MeanStats(0, math.nan, math.nan, math.nan, math.nan)
    order = np.argsort(v, kind="stable")
    v, c = v[order], c[order]
    mean = float((v * c).sum() / n)
    ends = np.cumsum(c)  # value i covers sorted positions [ends[i] - c[i], ends[i])
    lo = v[np.searchsorted(ends, (n - 1) // 2, side="right")]
    hi = v[np.searchsorted(ends, n // 2, side="right")]
    median = float((lo + hi) / 2)
    if n < 2:
        return MeanStats(n, mean, median, math.nan, math.nan)
    sem = math.sqrt(float((c * (v - mean) ** 2).sum()) / (n - 1)) / math.sqrt(n)
    try:
        from scipy.stats import t as student_t

        q = float(student_t.ppf(0.975, n - 1))
    except ImportError:  # pragma: no cover - scipy ships with scikit-learn
        q = z_fallback
    return MeanStats(n, mean, median, mean - q * sem, mean + q * sem)
