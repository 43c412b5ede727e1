"""Per-ambassador thresholds from the spread of their references: arithmetic on constructed
embeddings (expected values worked out by hand), the registry's rule, and real photos of one
man taken on different days (face_recognition's pinned test images)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.identity import (
    DEFAULT_RULE,
    EMBEDDING_DIM,
    Gallery,
    ThresholdRule,
    as_rule,
    match,
    match_tracks,
    reference_spread,
)


def _e(i: int, length: float = 1.0) -> np.ndarray:
    v = np.zeros(EMBEDDING_DIM, np.float32)
    v[i] = length
    return v


def test_spread_is_the_farthest_reference_from_the_mean_of_the_others():
    assert math.isnan(reference_spread(_e(0)[None]))
    assert reference_spread(np.stack([_e(0), _e(0) + _e(1, 0.4)])) == pytest.approx(0.4)
    # a = 0, b = 0.3 e1, c = 0.3 e2: b is sqrt(0.3² + 0.15²) from (a + c) / 2, a only
    # sqrt(2 × 0.15²) from (b + c) / 2.
    three = np.stack([_e(0, 0.0), _e(1, 0.3), _e(2, 0.3)])
    assert reference_spread(three) == pytest.approx(math.sqrt(0.09 + 0.0225), abs=1e-6)


def test_rule_clamps_the_spread_between_floor_and_ceiling():
    rule = ThresholdRule(0.35, 1.0, 0.41)
    assert rule.threshold(float("nan")) == 0.35  # one reference
    assert rule.threshold(0.2) == 0.35
    assert rule.threshold(0.38) == pytest.approx(0.38)
    assert rule.threshold(0.9) == 0.41
    assert ThresholdRule(0.3, 1.5, 0.6).threshold(0.3) == pytest.approx(0.45)
    fixed = ThresholdRule(0.5)
    assert fixed.threshold(0.9) == 0.5 and fixed.top == 0.5
    assert rule.at(0.3) == ThresholdRule(0.3, 1.0, 0.41)
    assert rule.at(0.5) == ThresholdRule(0.5, 1.0, 0.5)  # the ceiling follows a higher floor
    assert as_rule(0.4) == ThresholdRule(0.4) and as_rule(rule) is rule
    for bad in ((0.0,), (0.3, -1.0), (0.4, 1.0, 0.3)):
        with pytest.raises(ValueError):
            ThresholdRule(*bad)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        as_rule(0.0)


def _gallery() -> Gallery:
    # Ambassador 1: two references 0.1 apart around e0. Ambassador 2: two references 0.4
    # apart around e5. Ambassador 3: two references 0.8 apart around e10.
    return Gallery.build([(1, _e(0) + _e(1, 0.05)), (1, _e(0) - _e(1, 0.05)),
                          (2, _e(5) + _e(6, 0.2)), (2, _e(5) - _e(6, 0.2)),
                          (3, _e(10) + _e(11, 0.4)), (3, _e(10) - _e(11, 0.4))])


def test_a_spread_out_gallery_widens_its_own_threshold_only():
    probes = np.stack([_e(0) + _e(7, 0.38),    # 0.38 from 1 (spread 0.1): 0.35 applies
                       _e(5) + _e(7, 0.38),    # 0.38 from 2 (spread 0.4): 0.40 applies
                       _e(5) + _e(7, 0.405),   # just over 2's 0.40
                       _e(10) + _e(12, 0.405),  # 3 (spread 0.8) stops at the ceiling 0.41
                       _e(10) + _e(12, 0.42)])
    got = match(probes, _gallery(), ThresholdRule(0.35, 1.0, 0.41))
    assert [m.nearest_id for m in got] == [1, 2, 2, 3, 3]
    assert [m.ambassador_id for m in got] == [None, 2, None, 3, None]
    assert [m.threshold for m in got] == pytest.approx([0.35, 0.4, 0.4, 0.41, 0.41])
    assert got[1].distance == pytest.approx(0.38, abs=1e-6)
    # One threshold for everybody, as before: only distances under 0.35 match.
    assert [m.ambassador_id for m in match(probes, _gallery(), 0.35)] == [None] * 5
    assert all(m.threshold == 0.35 for m in match(probes, _gallery(), 0.35))


def test_tracks_use_the_rule_of_their_nearest_ambassador():
    # Track 4: frames 0.33 and 0.43 from ambassador 2's mean: the track mean is 0.38 away.
    e = np.stack([_e(5) + _e(7, 0.33), _e(5) + _e(7, 0.43), _e(0) + _e(7, 0.38)])
    got = match_tracks(e, np.array([4, 4, -1]), _gallery(), ThresholdRule(0.35, 1.0, 0.41))
    assert got[0] == got[1] and got[0].ambassador_id == 2
    assert got[0].distance == pytest.approx(0.38, abs=1e-6)
    assert got[2].ambassador_id is None


def test_the_registry_holds_the_rule_and_an_explicit_threshold_sets_its_floor():
    from analytics.identity_registry import (
        default_threshold,
        embedder_spec,
        register_embedder,
        resolve_rule,
        resolve_threshold,
        unregister_embedder,
    )

    assert embedder_spec("dlib-resnet-v1").rule == DEFAULT_RULE
    assert resolve_rule("dlib-resnet-v1", None) == DEFAULT_RULE
    assert DEFAULT_RULE.floor == default_threshold("dlib-resnet-v1") == 0.35
    assert DEFAULT_RULE.scale > 0 and DEFAULT_RULE.top > DEFAULT_RULE.floor
    lower = resolve_rule("dlib-resnet-v1", 0.3)
    assert (lower.floor, lower.scale, lower.ceiling) == (0.3, DEFAULT_RULE.scale,
                                                         DEFAULT_RULE.ceiling)
    assert resolve_threshold("dlib-resnet-v1", 0.3) == 0.3
    assert resolve_rule("facenet-vggface2", 0.9) == ThresholdRule(0.9)  # uncalibrated
    try:
        spec = register_embedder("rule-test", dim=4, factory=lambda: None,
                                 threshold=ThresholdRule(0.2, 1.2, 0.3))
        assert spec.threshold == 0.2 and spec.rule == ThresholdRule(0.2, 1.2, 0.3)
        assert resolve_rule("rule-test", None).top == 0.3
        with pytest.raises(ValueError, match="threshold"):
            register_embedder("rule-test-2", dim=4, factory=lambda: None, threshold=-1.0)
    finally:
        unregister_embedder("rule-test")
        unregister_embedder("rule-test-2")


@pytest.fixture(scope="module")
def politicians(detector, embedder) -> dict[str, np.ndarray]:
    """The embedding of the largest face of each face_recognition test photo."""
    from analytics.identity import largest_face
    from analytics.images import load_image
    from brandmood.core.media_sources import FACE_RECOGNITION_FILES, face_recognition_image

    out = {}
    for name in FACE_RECOGNITION_FILES:
        img = load_image(face_recognition_image(name))
        faces = detector.detect([img])[0]
        i = largest_face(faces)
        out[name] = embedder.embed(img, faces.boxes[i:i + 1])[0]
    return out


def test_a_man_photographed_on_other_days_is_recognised_by_the_rule(politicians):
    gallery = Gallery.build([(1, politicians["obama.jpg"]), (1, politicians["obama2.jpg"])])
    spread = reference_spread(gallery.vectors)
    assert DEFAULT_RULE.floor < spread  # two official photos, different days: spread out
    probe = np.stack([politicians["obama3.jpg"], politicians["biden.jpg"]])
    after = match(probe, gallery, DEFAULT_RULE)
    assert after[0].ambassador_id == 1 and after[0].distance >= 0.35  # not found at 0.35 alone
    assert [m.ambassador_id for m in match(probe, gallery, 0.35)] == [None, None]
    assert after[1].ambassador_id is None and after[1].distance > DEFAULT_RULE.top + 0.2
