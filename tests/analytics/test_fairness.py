"""The skin-tone estimate on patches of known colour, its bins, and the disparity check on
constructed counts (expected values worked out by hand or from published examples)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.color import lab2rgb, rgb2lab

from analytics.fairness import (
    NOT_ESTIMATED,
    Cell,
    Rate,
    SkinToneGroup,
    difference,
    disparities,
    group_stats,
    ita_group,
    ita_of_crops,
)
from brandmood.core.types import Emotion

# (L*, a*, b*) of a patch, its ITA by hand: atan((L* - 50) / b*) in degrees, its category
PATCHES = (
    ((80.0, 5.0, 12.0), 68.20, SkinToneGroup.VERY_LIGHT),   # atan(30 / 12)
    ((70.0, 10.0, 15.0), 53.13, SkinToneGroup.LIGHT),       # atan(20 / 15)
    ((62.0, 11.0, 16.0), 36.87, SkinToneGroup.INTERMEDIATE),  # atan(12 / 16)
    ((55.0, 10.0, 17.0), 16.39, SkinToneGroup.TAN),         # atan(5 / 17)
    ((45.0, 15.0, 20.0), -14.04, SkinToneGroup.BROWN),      # atan(-5 / 20)
    ((30.0, 12.0, 20.0), -45.00, SkinToneGroup.DARK),       # atan(-20 / 20)
)


def rgb_of_lab(lab: tuple[float, float, float]) -> np.ndarray:
    """The 8-bit sRGB colour of a Lab value (checked to be in gamut: it converts back)."""
    rgb = np.round(lab2rgb(np.array([[lab]])) * 255).astype(np.uint8)
    back = rgb2lab(rgb.astype(float) / 255)[0, 0]
    assert np.allclose(back, lab, atol=1.0), (lab, back)  # in gamut, 8-bit rounding only
    return rgb[0, 0]


def patch(rgb: np.ndarray, size: int = 64) -> np.ndarray:
    return np.broadcast_to(rgb, (size, size, 3)).astype(np.uint8).copy()


@pytest.mark.parametrize(("lab", "angle", "group"), PATCHES)
def test_ita_of_a_uniform_patch_is_the_formula(lab, angle, group):
    assert math.degrees(math.atan((lab[0] - 50) / lab[2])) == pytest.approx(angle, abs=0.01)
    (got,) = ita_of_crops(patch(rgb_of_lab(lab))[None])
    assert got == pytest.approx(angle, abs=1.0)  # 8-bit colour: within a degree
    assert ita_group(got) is group


def test_ita_ignores_eyes_brows_mouth_and_hair():
    """A face-like crop: skin with dark eyes, brows, hair at the top and a red mouth; the
    angle is the skin's."""
    skin = rgb_of_lab((62.0, 11.0, 16.0))
    crop = patch(skin)
    crop[:4] = (30, 20, 15)                  # hair along the top edge
    crop[20:24, 12:26] = crop[20:24, 38:52] = (40, 30, 25)  # brows
    crop[26:30, 14:24] = crop[26:30, 40:50] = (20, 20, 20)  # eyes
    crop[46:52, 24:40] = (150, 40, 50)       # mouth
    crop[38:40, 28:36] = (255, 255, 255)     # a highlight on the nose
    (got,) = ita_of_crops(crop[None])
    assert got == pytest.approx(36.87, abs=1.0)


def test_sizes_batches_and_grey_crops():
    a, b = rgb_of_lab(PATCHES[0][0]), rgb_of_lab(PATCHES[5][0])
    crops = np.stack([patch(a, 48), patch(b, 48), patch(np.array([128, 128, 128]), 48)])
    got = ita_of_crops(crops)
    assert got[0] == pytest.approx(68.20, abs=1.0) and got[1] == pytest.approx(-45.0, abs=1.0)
    assert math.isnan(got[2])  # no colour (b* = 0): not estimated, never a group
    assert ita_group(got[2]) is None and ita_group(None) is None
    assert ita_of_crops(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0,)
    with pytest.raises(ValueError, match="uint8"):
        ita_of_crops(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(ValueError):
        ita_of_crops(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize(("angle", "group"), [
    (55.01, SkinToneGroup.VERY_LIGHT), (55.0, SkinToneGroup.LIGHT),
    (41.0, SkinToneGroup.INTERMEDIATE),
    (28.0, SkinToneGroup.TAN), (10.0, SkinToneGroup.BROWN), (-29.99, SkinToneGroup.BROWN),
    (-30.0, SkinToneGroup.DARK), (-80.0, SkinToneGroup.DARK), (89.0, SkinToneGroup.VERY_LIGHT)])
def test_bins_at_their_edges(angle, group):
    assert ita_group(angle) is group


@pytest.mark.parametrize(("a", "b", "low", "high"), [
    # Newcombe (1998), Stat Med 17:873, Table II, method 10 (hybrid score)
    ((56, 70), (48, 80), 0.0524, 0.3339),
    ((9, 10), (3, 10), 0.1705, 0.8090),
    ((6, 7), (2, 7), 0.0582, 0.8062),
    ((5, 56), (0, 29), -0.0381, 0.1926),
    ((0, 10), (0, 20), -0.1611, 0.2775),
])
def test_difference_interval_matches_newcombe(a, b, low, high):
    d = difference(Rate.of(*a), Rate.of(*b))
    assert (round(d.low, 4), round(d.high, 4)) == (low, high)
    assert d.significant == (low > 0 or high < 0)
    with pytest.raises(ValueError):
        difference(Rate.of(0, 0), Rate.of(1, 2))


def _cells(group: str, n: int, angry: int, *, sad: int = 0) -> list[Cell]:
    out = [Cell(group, "anger", Emotion.ANGER, None, angry, 0.8 * angry, angry)]
    if sad:
        out.append(Cell(group, "sad", Emotion.SAD, None, sad, 0.5 * sad, sad))
    out.append(Cell(group, "neutral", Emotion.NEUTRAL, None, n - angry - sad,
                    0.7 * (n - angry - sad), n - angry - sad))
    return out


def test_a_group_read_as_angrier_is_flagged_and_a_small_gap_is_not():
    cells = (_cells("light", 200, 10) + _cells("intermediate", 150, 9)
             + _cells("brown", 100, 25) + _cells(NOT_ESTIMATED, 40, 30))
    stats = group_stats(cells)
    assert [s.group for s in stats] == ["light", "intermediate", "brown", NOT_ESTIMATED]
    flags = disparities(stats)
    # brown: 25/100 against (10 + 9)/350 = 5.4 %; the not-estimated faces take no part
    by = {(f.group, f.measure): f for f in flags}
    assert ("brown", "anger rate") in by and by[("brown", "anger rate")].higher
    brown = by[("brown", "anger rate")].difference
    assert (brown.a.count, brown.a.total, brown.b.count, brown.b.total) == (25, 100, 19, 350)
    assert all(f.group != NOT_ESTIMATED for f in flags)
    # against the rest (which includes brown): light, 10/200 against 34/250, is lower;
    # intermediate, 9/150 against 35/300, just is not (the interval reaches +0.003)
    assert ("light", "anger rate") in by and not by[("light", "anger rate")].higher
    assert ("intermediate", "anger rate") not in by
    assert len(flags) == 2
    # nothing differs when the rates are close
    close = group_stats(_cells("light", 200, 12) + _cells("brown", 100, 8))
    assert disparities(close) == []


def test_other_negative_emotions_and_anger_false_positives_are_checked():
    reviewed = [
        # light: 50 reviewed neutral faces, the model said anger for 2
        Cell("light", "anger", Emotion.ANGER, Emotion.NEUTRAL, 2, 1.6, 2),
        Cell("light", "neutral", Emotion.NEUTRAL, Emotion.NEUTRAL, 48, 33.6, 48),
        # dark: 40 reviewed neutral faces, the model said anger for 14
        Cell("dark", "anger", Emotion.ANGER, Emotion.NEUTRAL, 14, 11.2, 14),
        Cell("dark", "neutral", Emotion.NEUTRAL, Emotion.NEUTRAL, 26, 18.2, 26),
    ]
    stats = group_stats(reviewed + _cells("light", 100, 0, sad=2)
                        + _cells("dark", 100, 0, sad=20))
    light, dark = stats
    assert (light.faces, light.reviewed, dark.faces, dark.reviewed) == (150, 50, 140, 40)
    assert (dark.anger_fpr.count, dark.anger_fpr.total) == (14, 40)
    assert (dark.accuracy.count, dark.accuracy.total) == (26, 40)
    assert dark.share("sad").count == 20 and dark.share("anger").count == 14
    measures = {(f.group, f.measure) for f in disparities(stats)}
    assert {("dark", "sad rate"), ("dark", "anger false-positive rate"),
            ("dark", "anger rate")} <= measures
    assert ("light", "sad rate") in measures  # the mirror image: lower than the rest


def test_group_numbers_by_hand():
    cells = [
        Cell("tan", "happy", Emotion.HAPPY, Emotion.HAPPY, 3, 2.4, 3),     # right
        Cell("tan", "uncertain", Emotion.SAD, Emotion.ANGER, 1, 0.3, 1),  # wrong
        Cell("tan", "happy", Emotion.HAPPY, None, 4, 3.0, 3),             # one conf unknown
        Cell("tan", "anger", Emotion.ANGER, Emotion.ANGER, 2, 1.0, 2),    # right, true anger
    ]
    (tan,) = group_stats(cells)
    assert tan.faces == 10 and tan.reviewed == 6
    assert tan.mean_confidence == pytest.approx((2.4 + 0.3 + 3.0 + 1.0) / 9)
    assert tan.share("happy").count == 7 and tan.share("uncertain").count == 1
    assert tan.share("happy").share == pytest.approx(0.7)
    assert (tan.accuracy.count, tan.accuracy.total) == (5, 6)
    # reviewed non-anger faces: 3 happy + 0 (the one reviewed anger is a true anger): none
    # was read as anger
    assert (tan.anger_fpr.count, tan.anger_fpr.total) == (0, 3)
    with pytest.raises(ValueError, match="unknown group"):
        group_stats([Cell("beige", "happy", Emotion.HAPPY, None, 1)])
