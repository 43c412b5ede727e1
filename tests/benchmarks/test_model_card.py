"""The model card's figures are what the shipped models score now: measured again on
``../shared/eval`` and compared with the committed figures file (which holds aggregates
only, never the evaluation images, their names or paths)."""

from __future__ import annotations

import json

import pytest

from benchmarks.model_card import measure
from brandmood.services.model_card import DATASETS, FIGURES_FILE, KEPT


def test_the_figures_file_holds_aggregates_only() -> None:
    figures = json.loads(FIGURES_FILE.read_text())
    assert set(figures) == set(DATASETS)
    for data in figures.values():
        assert set(data) == {"images", "models"} and data["images"] > 0
        for m in data["models"].values():
            assert set(m) == set(KEPT)
    text = FIGURES_FILE.read_text()
    assert "/" not in text and "eval" not in text  # no path into the evaluation sets


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_figures_are_what_the_models_score_now(shared_eval) -> None:
    now = measure(shared_eval)
    kept = json.loads(FIGURES_FILE.read_text())
    assert set(now) == set(kept)
    for dataset, data in kept.items():
        assert now[dataset]["images"] == data["images"], dataset
        assert set(now[dataset]["models"]) == set(data["models"]), dataset
        for model, m in data["models"].items():
            got = now[dataset]["models"][model]
            for key in ("accuracy", "macro_f1", "ece", "uncertain_share"):
                assert got[key] == pytest.approx(m[key], abs=1e-3), (dataset, model, key)
            assert got["per_class_recall"] == pytest.approx(m["per_class_recall"], abs=1e-3)
