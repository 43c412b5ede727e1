"""Shares, Wilson intervals, mean statistics and period changes (exact arithmetic)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics import aggregate as ag


def test_wilson_interval_known_values():
    # 8 of 10: Wilson 95 % interval is (0.4902, 0.9433) (Newcombe 1998, Table I method 3)
    lo, hi = ag.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert ag.wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = ag.wilson_interval(0, 50)
    assert lo == 0.0 and 0 < hi < 0.1
    with pytest.raises(ValueError):
        ag.wilson_interval(3, 2)


def test_shares_keep_fixed_order_and_include_uncertain():
    out = ag.shares({"happy": 3, "uncertain": 1})
    assert [s.label for s in out] == list(ag.LABELS)
    assert out[-1].label == "uncertain" and out[-1].share == 0.25
    assert sum(s.share for s in out) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ag.shares({"joy": 1})


def test_dominant_and_positive_share():
    assert ag.dominant_label({"uncertain": 9, "sad": 2, "happy": 2}) == "happy"
    assert ag.dominant_label({"uncertain": 3}) is None
    assert ag.positive_share({"happy": 1, "sad": 3}) == 0.25


def test_mean_stats_t_interval():
    s = ag.mean_stats([1, 2, 3, 4, None, float("nan")])
    assert (s.n, s.mean, s.median) == (4, 2.5, 2.5)
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3)
    assert s.low == pytest.approx(2.5 - half) and s.high == pytest.approx(2.5 + half)
    one = ag.mean_stats([7])
    assert one.n == 1 and math.isnan(one.low)
    assert ag.mean_stats([]).n == 0


def test_change():
    c = ag.change(12, 8)
    assert (c.delta, c.relative) == (4, 0.5)
    assert ag.change(3, 0).relative is None
    assert ag.change(3, None).delta is None


def test_weighted_mean_stats_equals_the_expanded_values():
    values, counts = [5.0, 1.0, None, 3.0, 8.0], [2, 3, 4, 1, 0]
    flat = np.array([5.0, 5.0, 1.0, 1.0, 1.0, 3.0])  # None and the zero count drop out
    s = ag.weighted_mean_stats(values, counts)
    assert s.n == 6 and s.mean == pytest.approx(flat.mean()) and s.median == np.median(flat)
    half = 2.570581835636314 * flat.std(ddof=1) / math.sqrt(6)  # t(0.975, 5)
    assert s.low == pytest.approx(flat.mean() - half) and s.high == pytest.approx(
        flat.mean() + half)
    odd = ag.weighted_mean_stats([10, 20, 30], [1, 1, 3])  # 10 20 30 30 30
    assert (odd.n, odd.median, odd.mean) == (5, 30.0, 24.0)
    even = ag.weighted_mean_stats([10, 20], [2, 2])  # 10 10 20 20
    assert even.median == 15.0
    assert ag.weighted_mean_stats([None], [3]).n == 0
    assert math.isnan(ag.weighted_mean_stats([4], [1]).low)
    with pytest.raises(ValueError):
        ag.weighted_mean_stats([1, 2], [1])
    with pytest.raises(ValueError):
        ag.weighted_mean_stats([1], [-1])


def test_add_counts_adds_subtracts_and_drops_zeros():
    into = {"happy": 2, "sad": 1}
    ag.add_counts(into, {"happy": 1, "fear": 4})
    assert into == {"happy": 3, "sad": 1, "fear": 4}
    ag.add_counts(into, {"sad": 1, "fear": 1}, sign=-1)
    assert into == {"happy": 3, "fear": 3}
