"""Adapt the emotion model to a brand's reviewed faces: a new head on frozen network features.

Method (deterministic, CPU, seconds to a minute for a few hundred faces):

1. Crops: each reviewed face is cut as the base network reads it (face-api: 112×112 RGB, its
   tight margin) with :data:`JITTER` more context, so that training can also see it a little
   tighter and a little wider (center crops, :func:`views`) and mirrored: six views per face.
2. Features (``FinetuneConfig.features``): the base network's own features plus, optionally,
   fer's and HOG (:class:`analytics.classifiers.adapted.FeatureSet`); ``auto`` (the default)
   lets grouped cross-validation on the training people choose among
   :data:`AUTO_FEATURES`.
3. Labels: every emotion with at least ``min_per_class`` reviewed training faces gets an output
   (contempt included, though the base model has none); the others stay unpredicted (NaN).
4. Head (:mod:`analytics.finetune_head`): the base's classifier layer as the start, trained by
   L-BFGS with an L2 pull towards it; the feature set and the pull's strength are chosen by
   cross-validation grouped by person/asset on the training part only.
5. Calibration: a temperature fitted on the training faces' out-of-fold probabilities of that
   cross-validation, and the uncertainty threshold at which those faces marked certain reach
   :data:`analytics.uncertainty.TARGET_CERTAIN_ACCURACY`; both travel in the manifest.
6. Held-out evaluation: a split grouped by person or asset (no person on both sides), accuracy
   and macro-F1 of the base and the adapted model on it, ECE before and after calibration.
   The new version counts as better only where its macro-F1 is higher and its accuracy is not
   lower.

The frozen networks come in as a :class:`~analytics.classifiers.adapted.FrozenBase` loaded
from weight files by the caller. scikit-learn is imported by the functions that use it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from analytics import metrics
from analytics.align import crop_faces
from analytics.calibration import Calibration, fit, reliability_of, top_prediction
from analytics.classifiers.adapted import (
    BASES,
    FEATURE_SETS,
    AdaptedHead,
    FeatureSet,
    FrozenBase,
    base_block,
    base_spec,
    head_probs,
)
from analytics.classifiers.base import InputSpec
from analytics.classifiers.manifest import resize_crops
from analytics.detection import MTCNNDetector
from analytics.finetune_head import L2_GRID, BaseHead, Training, choose, train_head
from analytics.images import load_image
from analytics.uncertainty import UncertaintyRule, choose_min_confidence
from brandmood.core.fetch import sha256_file
from brandmood.core.types import EMOTIONS, Emotion

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})
AUTO = "auto"
DEFAULT_FEATURES = AUTO
AUTO_FEATURES = (FeatureSet.FACEAPI, FeatureSet.FACEAPI_HOG, FeatureSet.FACEAPI_FER_HOG)
"""What ``features="auto"`` chooses among, by grouped cross-validation on the training people."""
JITTER = 0.05
"""Training also sees each face cut this much tighter and wider (per side, in box sides)."""


@dataclass(frozen=True)
class LabeledFaces:
    """Face crops with reviewed labels.

    Attributes:
        crops: ``(n, S, S, 3)`` uint8 RGB aligned face crops.
        labels: ``(n,)`` int64 index into :data:`brandmood.core.types.EMOTIONS`.
        groups: ``(n,)`` str person or asset of each face (held-out splits keep groups whole).
        margin: the margin the crops were cut with (:func:`store_spec`); None: exactly the
            base's own crop (no wider view to take).
    """

    crops: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    margin: float | None = None

    def __post_init__(self) -> None:
        n = len(self.crops)
        if self.crops.ndim != 4 or self.crops.shape[3] != 3 or self.crops.dtype != np.uint8:
            raise ValueError(f"crops must be (n, S, S, 3) uint8, got {self.crops.shape} "
                             f"{self.crops.dtype}")
        if self.labels.shape != (n,) or self.groups.shape != (n,):
            raise ValueError(f"labels and groups must be ({n},), got {self.labels.shape}, "
                             f"{self.groups.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> LabeledFaces:
        return LabeledFaces(self.crops[idx], self.labels[idx], self.groups[idx], self.margin)


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of one adaptation.

    Attributes:
        min_per_class: fewest training faces for a label to get an output.
        test_fraction: share of groups held out (when the split is not given).
        seed: makes the split and the training reproducible.
        max_iter: L-BFGS iterations.
        l2: fixed L2 strength; None chooses it by grouped cross-validation.
        features: the head's feature set (:data:`analytics.classifiers.adapted.FEATURE_SETS`)
            or ``auto`` (chosen among :data:`AUTO_FEATURES` by grouped cross-validation).
    """

    min_per_class: int = 8
    test_fraction: float = 0.3
    seed: int = 0
    max_iter: int = 100
    l2: float | None = None
    features: FeatureSet | str = DEFAULT_FEATURES

    def __post_init__(self) -> None:
        if self.features != AUTO and self.features not in FEATURE_SETS:
            raise ValueError(f"features must be {AUTO!r} or one of {sorted(FEATURE_SETS)}, "
                             f"got {self.features!r}")
        if self.features != AUTO:
            object.__setattr__(self, "features", FeatureSet(self.features))
        if self.min_per_class < 1:
            raise ValueError(f"min_per_class must be >= 1, got {self.min_per_class}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")

    @property
    def candidates(self) -> tuple[FeatureSet, ...]:
        """The feature sets to choose among (one, unless ``auto``); all share one base."""
        return AUTO_FEATURES if self.features == AUTO else (FeatureSet(self.features),)

    @property
    def spec(self) -> InputSpec:
        """The crop the heads read (the base's)."""
        return base_spec(self.candidates[0])

    @property
    def jitter(self) -> float:
        """How much tighter and wider training also cuts each face: :data:`JITTER` for
        face-api heads (cross-validated gain), 0 for the earlier fer heads (unchanged)."""
        return JITTER if base_block(self.candidates[0]) == "faceapi" else 0.0

    @property
    def base_model(self) -> str:
        """The registered name of the base network (``faceapi`` or ``fer-mini-xception``)."""
        return BASES[base_block(self.candidates[0])][0]


@dataclass(frozen=True)
class Scores:
    """Held-out scores of one model: accuracy, macro-F1, ``(8,)`` recall per class and
    ``(n,)`` bool ``correct`` per face (for paired comparisons)."""

    accuracy: float
    macro_f1: float
    per_class_recall: np.ndarray
    correct: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @classmethod
    def of(cls, y_true: np.ndarray, probs: np.ndarray) -> Scores:
        """Score ``(n, 8)`` probabilities (NaN = class not predicted) against labels."""
        pred = predicted_labels(probs)
        return cls(metrics.accuracy(y_true, pred), metrics.macro_f1(y_true, pred),
                   metrics.per_class_recall(y_true, pred), pred == np.asarray(y_true))

    def recall_dict(self) -> dict[str, float | None]:
        return {e.value: (None if np.isnan(r) else float(r))
                for e, r in zip(EMOTIONS, self.per_class_recall, strict=True)}


@dataclass
class FinetuneResult:
    """A trained head with its held-out comparison against the base model."""

    labels: tuple[Emotion, ...]
    head: AdaptedHead
    base: Scores
    adapted: Scores
    n_train: int
    n_test: int
    l2: float
    train_counts: dict[Emotion, int]
    left_out: dict[Emotion, int] = field(default_factory=dict)
    calibration: Calibration = field(default_factory=Calibration)
    min_confidence: float | None = None
    calibration_metrics: dict = field(default_factory=dict)
    base_model: str = "fer-mini-xception"

    @property
    def improved(self) -> bool:
        """Better macro-F1 without lower accuracy on the held-out faces."""
        return (self.adapted.macro_f1 > self.base.macro_f1
                and self.adapted.accuracy >= self.base.accuracy)

    def metrics_dict(self) -> dict:
        """JSON-ready metrics (what a model version records)."""
        return {"base_accuracy": self.base.accuracy, "base_macro_f1": self.base.macro_f1,
                "adapted_accuracy": self.adapted.accuracy,
                "adapted_macro_f1": self.adapted.macro_f1,
                "adapted_per_class_recall": self.adapted.recall_dict(),
                "n_train": self.n_train, "n_test": self.n_test, "l2": self.l2,
                "features": self.head.feature_set, "base_model": self.base_model,
                "train_counts": {e.value: n for e, n in self.train_counts.items()},
                "left_out_labels": {e.value: n for e, n in self.left_out.items()},
                "calibration": self.calibration_metrics}


def predicted_labels(probs: np.ndarray) -> np.ndarray:
    """``(n, 8)`` probabilities → ``(n,)`` top class index (-1 where all NaN)."""
    p = np.asarray(probs, np.float64)
    out = np.full(len(p), metrics.NO_PREDICTION, np.int64)
    ok = ~np.all(np.isnan(p), axis=1) if len(p) else np.zeros(0, bool)
    out[ok] = np.nanargmax(p[ok], axis=1)
    return out


def group_of(path: Path) -> str:
    """Person code from a file name: the part before the first ``.``, ``_`` or ``-``."""
    return re.split(r"[._-]", path.stem, maxsplit=1)[0]


def read_labeled_folder(folder: Path) -> list[tuple[Path, Emotion]]:
    """``label/*.jpg`` (any image suffix) → ``(path, label)`` sorted by path.

    Raises:
        FileNotFoundError: if the folder does not exist.
        ValueError: if a sub-folder is not an emotion name, or no image is found.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    out: list[tuple[Path, Emotion]] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        label = Emotion.parse(sub.name)
        out += [(p, label) for p in sorted(sub.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not out:
        raise ValueError(f"{folder} holds no labeled images (expected label/*.jpg)")
    return out


def store_spec(cfg: FinetuneConfig) -> InputSpec:
    """How to cut faces for adaptation: the base's crop with ``cfg.jitter`` more margin, at
    a size that keeps the base view's resolution."""
    spec = cfg.spec
    margin = spec.margin + cfg.jitter
    size = round(spec.size * (1 + 2 * margin) / (1 + 2 * spec.margin))
    return InputSpec(size=size, margin=margin, color=spec.color)


def load_folder_faces(folder: Path, *, crops: bool = False, detector=None,
                      cfg: FinetuneConfig | None = None
                      ) -> tuple[LabeledFaces, list[tuple[Path, str]]]:
    """Read a labeled folder as face crops.

    Args:
        folder: ``label/*.jpg`` images.
        crops: the images already are face crops (used whole, resized to ``spec.size``, taken
            as the base's own crop); otherwise the largest face MTCNN finds is cut out,
            aligned, as :func:`store_spec` says.
        detector: an :class:`analytics.detection.MTCNNDetector` (created if None).
        cfg: the adaptation the faces are for (its base's crop; default
            :class:`FinetuneConfig`).

    Returns:
        ``(faces, failures)``: crops with labels and person groups (:func:`group_of`), and
        ``(path, reason)`` of each image that could not be used.
    """
    cfg = cfg or FinetuneConfig()
    cut = cfg.spec if crops else store_spec(cfg)
    items = read_labeled_folder(folder)
    if not crops and detector is None:
        detector = MTCNNDetector()
    out, labels, groups, failed = [], [], [], []
    for path, label in items:
        try:
            img = load_image(path)
        except ValueError as exc:
            failed.append((path, str(exc)))
            continue
        if crops:
            out.append(resize_crops(img[None], cut.size)[0])
        else:
            crop = _largest_face_crop(img, detector, cut)
            if crop is None:
                failed.append((path, "no face found"))
                continue
            out.append(crop)
        labels.append(EMOTIONS.index(label))
        groups.append(group_of(path))
    arr = np.stack(out) if out else np.zeros((0, cut.size, cut.size, 3), np.uint8)
    return LabeledFaces(arr, np.array(labels, np.int64), np.array(groups, dtype=object),
                        cut.margin), failed


def _largest_face_crop(img: np.ndarray, detector, spec) -> np.ndarray | None:
    faces = detector.detect([img])[0]
    if len(faces) == 0:
        return None
    i = int(np.argmax(faces.areas))
    return crop_faces(img, faces[i:i + 1], spec)[0]


def recrop(crops: np.ndarray, have: float, want: float, size: int) -> np.ndarray:
    """Center crops of ``(n, S, S, 3)`` crops cut with margin ``have`` as if cut with the
    tighter (or equal) margin ``want``, resized to ``size``.

    Raises:
        ValueError: ``want`` wider than ``have``.
    """
    if want > have + 1e-9:
        raise ValueError(f"cannot widen a crop from margin {have} to {want}")
    s = crops.shape[1]
    side = max(1, round(s * (1 + 2 * want) / (1 + 2 * have)))
    o = (s - side) // 2
    arr = np.ascontiguousarray(crops[:, o:o + side, o:o + side])
    return arr if side == size else resize_crops(arr, size)


def views(faces: LabeledFaces, cfg: FinetuneConfig, *, train: bool) -> list[np.ndarray]:
    """The base view (the base's margin and size) and, for training, the tighter and wider
    views (``cfg.jitter``) the stored crops allow, then all of them mirrored: a list of
    ``(n, S, S, 3)`` arrays whose first is the base view where there is no jitter, else the
    second."""
    spec, j = cfg.spec, cfg.jitter
    have = spec.margin if faces.margin is None else faces.margin
    if not train:
        return [recrop(faces.crops, have, spec.margin, spec.size)]
    margins = [m for m in dict.fromkeys((spec.margin - j, spec.margin, spec.margin + j))
               if m <= have + 1e-9]
    out = [recrop(faces.crops, have, m, spec.size) for m in margins]
    return out + [np.ascontiguousarray(v[:, :, ::-1]) for v in out]


def grouped_split(labels: np.ndarray, groups: np.ndarray, test_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` with no group on both sides, stratified by label.

    Raises:
        ValueError: with fewer than two groups.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups.tolist()))
    if n_groups < 2:
        raise ValueError("a held-out split needs faces of at least two people or assets")
    k = int(min(max(2, round(1 / test_fraction)), n_groups))
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    train, test = next(cv.split(np.zeros(len(labels)), labels, groups))
    return np.sort(train), np.sort(test)


def _features(networks: FrozenBase, crops: list[np.ndarray],
              candidates: tuple[FeatureSet, ...]) -> dict[FeatureSet, np.ndarray]:
    """Each candidate's features of every view, stacked view after view; blocks shared by
    several candidates are computed once."""
    names = list(dict.fromkeys(b for fs in candidates for b in fs.split("+")))
    per_view = [networks.blocks(v, names) for v in crops]
    return {fs: np.concatenate([np.concatenate([got[b] for b in fs.split("+")], axis=1)
                                for got in per_view]) for fs in candidates}


def _base_heads(networks: FrozenBase):
    def base(fs: FeatureSet) -> BaseHead:
        layer, labels = networks.base_head(fs)
        return BaseHead(layer.weight.detach(), layer.bias.detach(), labels)

    return base


def adapt(train: LabeledFaces, test: LabeledFaces, cfg: FinetuneConfig | None = None, *,
          networks: FrozenBase) -> FinetuneResult:
    """Train a head on ``train`` and compare it with the base model on ``test``.

    Args:
        train: reviewed faces to learn from.
        test: held-out faces to compare on.
        cfg: settings (default :class:`FinetuneConfig`).
        networks: the frozen networks of ``cfg``'s feature sets.

    Raises:
        ValueError: if no label has ``min_per_class`` training faces, or the test part is empty.
    """
    cfg = cfg or FinetuneConfig()
    if len(test) == 0:
        raise ValueError("the held-out part is empty")
    counts = Counter(EMOTIONS[i] for i in train.labels.tolist())
    labels = tuple(e for e in EMOTIONS if counts[e] >= cfg.min_per_class)
    left_out = {e: counts[e] for e in EMOTIONS if 0 < counts[e] < cfg.min_per_class}
    if len(labels) < 2:
        raise ValueError(f"need at least two labels with {cfg.min_per_class}+ reviewed faces; "
                         f"have {dict((e.value, n) for e, n in counts.items())}")
    tr = train.subset(np.flatnonzero(np.isin(train.labels,
                                             [EMOTIONS.index(e) for e in labels])))
    bases = _base_heads(networks)
    n_steps = len(cfg.candidates) * (1 if cfg.l2 is not None else len(L2_GRID)) + 2
    with tqdm(total=n_steps, desc="finetune", unit="step", disable=None) as bar:
        train_views = views(tr, cfg, train=True)
        y = np.tile([labels.index(EMOTIONS[i]) for i in tr.labels], len(train_views))
        feats = _features(networks, train_views, cfg.candidates)
        n, k = len(tr), (1 if cfg.jitter else 0)  # k: the unmirrored base view
        data = Training(feats, {fs: f[k * n:(k + 1) * n] for fs, f in feats.items()},
                        y.astype(np.int64), np.tile(tr.groups, len(train_views)), n)
        bar.update(1)
        choice = choose(data, labels, cfg.candidates,
                        L2_GRID if cfg.l2 is None else (cfg.l2,), bases=bases,
                        max_iter=cfg.max_iter, seed=cfg.seed, step=lambda: bar.update(1))
        l2 = cfg.l2 if cfg.l2 is not None else choice.l2
        head = train_head(data.train[choice.feature_set], data.y, labels,
                          base=bases(choice.feature_set), l2=l2, max_iter=cfg.max_iter,
                          seed=cfg.seed)
        bar.update(1)
    calibration, min_conf = _calibrate(choice.oof, tr.labels)
    test_view = views(test, cfg, train=False)[0]
    raw = head_probs(head, networks.features(test_view, choice.feature_set), labels)
    base = Scores.of(test.labels, networks.base_model(choice.feature_set).predict(test_view))
    cal_metrics = calibration_report(raw, calibration.apply(raw), test.labels, calibration,
                                     min_conf)
    return FinetuneResult(labels, head, base, Scores.of(test.labels, calibration.apply(raw)),
                          len(tr), len(test), l2, {e: counts[e] for e in labels}, left_out,
                          calibration, min_conf, cal_metrics, cfg.base_model)


def _calibrate(oof: np.ndarray, y: np.ndarray) -> tuple[Calibration, float | None]:
    """A temperature and the uncertainty threshold from the training faces' out-of-fold
    probabilities (identity and None where there are none)."""
    has = ~np.all(np.isnan(oof), axis=1)
    if has.sum() < 2:
        return Calibration(), None
    cal = fit(oof[has], y[has], "temperature")
    pred, conf = top_prediction(cal.apply(oof[has]))
    return cal, choose_min_confidence(conf, pred == y[has])


def calibration_report(raw: np.ndarray, calibrated: np.ndarray, y: np.ndarray,
                       calibration: Calibration, min_confidence: float | None) -> dict:
    """ECE before/after, the certain faces' accuracy and the uncertain share on held-out
    faces, with the reliability bins (JSON-ready)."""
    before, after = reliability_of(raw, y), reliability_of(calibrated, y)
    out = {"tag": calibration.tag, "ece_before": before.ece, "ece_after": after.ece,
           "min_confidence": min_confidence,
           "reliability": {"held-out before": before.to_dict(),
                           "held-out after": after.to_dict()}}
    if min_confidence is not None:
        flags = UncertaintyRule(min_confidence, 0.0).flags(calibrated)
        ok = top_prediction(calibrated)[0] == y
        out["uncertain_share"] = float(flags.mean())
        out["certain_accuracy"] = float(ok[~flags].mean()) if (~flags).any() else None
    return out


def finetune(data: LabeledFaces, cfg: FinetuneConfig | None = None, *,
             networks: FrozenBase) -> FinetuneResult:
    """Split reviewed faces by group (seeded), then :func:`adapt` on the training part."""
    cfg = cfg or FinetuneConfig()
    tr, te = grouped_split(data.labels, data.groups, cfg.test_fraction, cfg.seed)
    return adapt(data.subset(tr), data.subset(te), cfg, networks=networks)


def adapted_probs(result: FinetuneResult, crops: np.ndarray, networks: FrozenBase) -> np.ndarray:
    """``(n, S, S, 3)`` crops (the base's, :attr:`FinetuneConfig.spec`) → ``(n, 8)``
    calibrated probabilities of the adapted head."""
    raw = head_probs(result.head, networks.features(crops, result.head.feature_set),
                     result.labels)
    return result.calibration.apply(raw)


def save_adapted(result: FinetuneResult, folder: Path, *, name: str, version: str) -> Path:
    """Write the head weights and a ``fer-adapted`` JSON manifest into ``folder``.

    Returns:
        The manifest path (what :func:`analytics.classifiers.registry.get_classifier` loads).
    """
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{name}-{version}.pt"
    torch.save({k: v.detach().clone() for k, v in result.head.state_dict().items()}, weights)
    spec = base_spec(result.head.feature_set)
    gray = spec.color.value == "gray"
    manifest = {"arch": "fer-adapted", "labels": [e.value for e in result.labels],
                "input_size": spec.size, "color": spec.color.value,
                "mean": [0.5] if gray else [0.5, 0.5, 0.5],
                "std": [0.5] if gray else [0.5, 0.5, 0.5], "margin": spec.margin,
                "weights": weights.name, "weights_sha256": sha256_file(weights),
                "name": name, "version": version,
                "base_model": BASES[base_block(result.head.feature_set)][0],
                "calibration": result.calibration.to_dict(),
                "min_confidence": result.min_confidence,
                "metrics": result.metrics_dict()}
    path = folder / f"{name}-{version}.json"
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return path
