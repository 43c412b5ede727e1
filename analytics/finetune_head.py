"""The linear head of an adapted model: its start, its training, and the grouped
cross-validation that chooses its feature set and the strength of its pull to the start.

Features are ``(n, d)`` arrays whose first block is the base network's own features (kept as
they are: the base's classifier layer was trained on them); the other blocks are standardized
on the training faces to a joint norm of about :data:`EXTRA_SCALE`. The head starts from the
base's classifier layer on the base block (new classes, e.g. contempt, and the extra blocks at
zero) and is trained by full-batch L-BFGS on class-weighted cross-entropy with an L2 pull
towards that start (deterministic).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from analytics import metrics
from analytics.classifiers.adapted import AdaptedHead, FeatureSet, base_width, head_probs
from brandmood.core.types import EMOTIONS, Emotion

L2_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
EXTRA_SCALE = 5.0
"""The extra feature blocks (facex, HOG, fer after face-api) are standardized to a total norm
of about this."""


@dataclass(frozen=True)
class BaseHead:
    """The base network's classifier layer: ``weight`` ``(k0, d0)``, ``bias`` ``(k0,)`` in
    the order ``labels``."""

    weight: torch.Tensor
    bias: torch.Tensor
    labels: tuple[Emotion, ...]


def standardizer(features: np.ndarray, base_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(center, scale)`` ``(d,)`` for ``(n, d)`` training features: the base block (first
    ``base_dim``) as it is, the rest centered and scaled to a joint norm of about
    :data:`EXTRA_SCALE`."""
    x = np.asarray(features, np.float64)
    center, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
    extra = x[:, base_dim:]
    if extra.shape[1]:
        center[base_dim:] = extra.mean(axis=0)
        scale[base_dim:] = (extra.std(axis=0) + 1e-6) * np.sqrt(extra.shape[1]) / EXTRA_SCALE
    return center.astype(np.float32), scale.astype(np.float32)


def init_head(labels: tuple[Emotion, ...], base: BaseHead, width: int) -> AdaptedHead:
    """The base's classifier layer on the base block (new classes at zero, their bias the
    mean), zero on the extra blocks."""
    head = AdaptedHead(len(labels), width)
    d0 = base.weight.shape[1]
    with torch.no_grad():
        head.head.weight.zero_()
        head.head.bias.fill_(float(base.bias.mean()))
        for j, label in enumerate(labels):
            if label in base.labels:
                k = base.labels.index(label)
                head.head.weight[j, :d0] = base.weight[k]
                head.head.bias[j] = base.bias[k]
    return head


def train_head(features: np.ndarray, y: np.ndarray, labels: tuple[Emotion, ...], *,
               base: BaseHead, l2: float, max_iter: int = 100, seed: int = 0,
               standardize: tuple[np.ndarray, np.ndarray] | None = None) -> AdaptedHead:
    """Fit a head on ``(n, d)`` features and ``(n,)`` indices into ``labels``.

    Class-weighted cross-entropy + ``l2 * ||W - W0||²`` (W0: :func:`init_head`), full-batch
    L-BFGS. ``standardize``: ``(center, scale)`` ``(d,)`` kept in the head (default
    :func:`standardizer` of ``features``).
    """
    torch.manual_seed(seed)
    head = init_head(labels, base, features.shape[1])
    center, scale = (standardize if standardize is not None
                     else standardizer(features, base.weight.shape[1]))
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


@dataclass(frozen=True)
class Training:
    """The training faces' features as the search needs them.

    Attributes:
        train: ``feature set → (m, d)`` features of every training view (crop margins ×
            mirror), ``m = views × n``.
        check: ``feature set → (n, d)`` features of the base view only (what held-out
            people are scored on).
        y: ``(m,)`` label index (into the head's labels) of each training view.
        groups: ``(m,)`` person/asset of each training view.
        n: faces.
    """

    train: dict[FeatureSet, np.ndarray]
    check: dict[FeatureSet, np.ndarray]
    y: np.ndarray
    groups: np.ndarray
    n: int

    def face_of(self) -> np.ndarray:
        """``(m,)`` index of the face each training view belongs to."""
        return np.tile(np.arange(self.n), len(self.y) // self.n)


@dataclass(frozen=True)
class Choice:
    """What grouped cross-validation chose, its score, and the out-of-fold probabilities of
    the training faces at that choice (``(n, 8)``, NaN rows where never held out)."""

    feature_set: FeatureSet
    l2: float
    score: float
    oof: np.ndarray


def choose(data: Training, labels: tuple[Emotion, ...], candidates: Sequence[FeatureSet],
           l2_grid: Sequence[float], *, bases: Callable[[FeatureSet], BaseHead],
           max_iter: int, seed: int, step: Callable[[], None] = lambda: None) -> Choice:
    """The feature set and L2 strength with the best mean macro-F1 on held-out training
    people (grouped folds; ties: the first candidate, the weakest pull).

    With fewer than three people there is nothing to hold out: the first candidate and 0.1,
    and no out-of-fold probabilities.
    """
    from sklearn.model_selection import GroupKFold

    if not candidates or not l2_grid:
        raise ValueError("give at least one feature set and one L2 strength")
    face_groups = data.groups[:data.n]
    n_groups = len(set(face_groups.tolist()))
    if n_groups < 3:
        return Choice(candidates[0], 0.1, float("nan"), np.full((data.n, 8), np.nan))
    folds = list(GroupKFold(n_splits=min(5, n_groups)).split(
        np.zeros(data.n), data.y[:data.n], face_groups))
    face = data.face_of()
    y_true = np.array([EMOTIONS.index(labels[i]) for i in data.y[:data.n]], np.int64)
    best: Choice | None = None
    for fs in candidates:
        std = standardizer(data.train[fs], base_width(fs))
        for l2 in l2_grid:
            oof = np.full((data.n, 8), np.nan)
            for tr, va in folds:
                rows = np.isin(face, tr)
                head = train_head(data.train[fs][rows], data.y[rows], labels, base=bases(fs),
                                  l2=l2, max_iter=max_iter, seed=seed, standardize=std)
                oof[va] = head_probs(head, data.check[fs][va], labels)
            pred = np.nanargmax(oof, axis=1)
            score = float(np.mean([metrics.macro_f1(y_true[va], pred[va]) for _, va in folds]))
            if best is None or score > best.score + 1e-12:
                best = Choice(fs, l2, score, oof)
            step()
    return best  # type: ignore[return-value]  # candidates and grid are not empty


__all__ = ["EXTRA_SCALE", "L2_GRID", "BaseHead", "Choice", "Training", "choose", "init_head",
           "standardizer", "train_head"]
