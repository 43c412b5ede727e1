"""The adaptation benchmark's grouped cross-validation: every face tested once per repeat,
no person on both sides, and paired counts that add up (real models on the CK+ crops)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import adaptation


def test_ckplus_grouped_cv_tests_every_face_once_and_pairs_add_up(shared_eval: Path,
                                                                   tmp_path: Path,
                                                                   monkeypatch):
    seen: list[tuple[set, set, int]] = []
    real = adaptation.compare

    def spy(train, test, cfg):
        seen.append((set(train.groups.tolist()), set(test.groups.tolist()), len(test)))
        return real(train, test, cfg)

    monkeypatch.setattr(adaptation, "compare", spy)  # records the splits, compares for real
    out_path = tmp_path / "cv.json"
    assert adaptation.main(["--cv", str(shared_eval / "ckplus48-dev"), "--crops",
                            "--folds", "3", "--repeats", "1", "--features", "faceapi+hog",
                            "--json", str(out_path)]) == 0
    out = json.loads(out_path.read_text())
    assert len(seen) == 3 and sum(n for _, _, n in seen) == 165
    assert all(not tr & te for tr, te, _ in seen)
    assert len(set().union(*(te for _, te, _ in seen))) == 59  # every subject tested once
    for key in ("base_accuracy", "adapted_accuracy", "base_macro_f1", "adapted_macro_f1",
                "adapted_per_class_recall", "hog_baseline_accuracy"):
        assert key in out
    cv = out["grouped_cv"]
    assert cv["n_splits"] == 3 and cv["adapted_vs_hog"]["faces_tested"] == 165
    v = cv["adapted_vs_hog"]
    assert v["split_wins"] + v["split_ties"] + v["split_losses"] == 3
    assert out["adapted_accuracy"] == pytest.approx(
        np.mean([s["adapted_accuracy"] for s in cv["splits"]]))
    assert out["adapted_accuracy"] > out["base_accuracy"] + 0.08  # contempt etc. learned
    assert out["adapted_accuracy"] > out["hog_baseline_accuracy"]
    assert out["adapted_per_class_recall"]["contempt"] >= 0.7   # the stock model has none
