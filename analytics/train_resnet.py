"""Train torchvision ResNet-50 with an eight-way emotion head on a labeled folder.

``label/*.jpg`` images (face crops) → a checkpoint (``state_dict`` of ``resnet50`` with
``fc = Linear(2048, 8)``, outputs in :data:`brandmood.core.types.EMOTIONS` order) and the JSON
manifest :mod:`analytics.classifiers.resnet` loads. Augmentation (random resized crop,
horizontal flip, brightness/contrast jitter, small rotation), class-weighted cross-entropy
(classes without examples get weight 0), a validation split grouped by person (file-name
prefix) where possible, and early stopping on validation macro-F1.

Training starts from the ImageNet weights the caller passes (``init``: what
:func:`analytics.classifiers.registry.imagenet_resnet50` fetched, or why it could not), else
from random initialisation; the report says which. torchvision is imported by the functions
that use it (heavy, used only here).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from analytics import metrics
from analytics.classifiers.manifest import IMAGENET_MEAN, IMAGENET_STD, resize_crops
from analytics.finetune import group_of, grouped_split, read_labeled_folder
from analytics.images import load_image
from brandmood.core.fetch import sha256_file
from brandmood.core.progress import Progress, safe_progress
from brandmood.core.types import EMOTIONS, N_EMOTIONS

Init = tuple[Mapping[str, torch.Tensor] | None, str]
"""Where training starts: ``(ImageNet ResNet-50 state_dict, "imagenet")``, or
``(None, "random (<why>)")``."""


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (defaults: a real run; tests use tiny ones)."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    input_size: int = 224
    val_fraction: float = 0.2
    patience: int = 5
    seed: int = 0
    pretrained: bool = True
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, batch_size and patience must be >= 1")
        if not 32 <= self.input_size <= 1024:
            raise ValueError(f"input_size must be in 32..1024, got {self.input_size}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


@dataclass
class TrainReport:
    """What a training run did and where it wrote the model."""

    manifest: Path
    weights: Path
    init: str
    epochs_run: int
    best_epoch: int
    val_accuracy: float
    val_macro_f1: float
    n_train: int
    n_val: int
    seconds: float
    history: list[dict] = field(default_factory=list)

    def metrics_dict(self) -> dict:
        d = asdict(self)
        d["manifest"], d["weights"] = str(self.manifest), str(self.weights)
        return d


def build_model(init: Init) -> tuple[nn.Module, str]:
    """ResNet-50 with an 8-way head, from ``init``'s ImageNet state_dict where it has one.

    Returns:
        ``(model, init note)``: "imagenet" or "random (<why>)".
    """
    from torchvision.models import resnet50

    state, note = init
    model = resnet50(weights=None)
    if state is not None:
        model.load_state_dict(state)
    model.fc = nn.Linear(model.fc.in_features, N_EMOTIONS)
    return model, note


def _load_images(folder: Path, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    items = read_labeled_folder(folder)
    big = round(size * 1.15)
    imgs = [resize_crops(load_image(p)[None], big)[0] for p, _ in items]
    labels = np.array([EMOTIONS.index(e) for _, e in items], np.int64)
    groups = np.array([group_of(p) for p, _ in items], dtype=object)
    return np.stack(imgs), labels, groups


def _split(labels: np.ndarray, groups: np.ndarray, frac: float,
           seed: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        tr, va = grouped_split(labels, groups, frac, seed)
        if len(tr) and len(va):
            return tr, va
    except ValueError:
        pass
    order = np.random.default_rng(seed).permutation(len(labels))
    n_val = max(1, round(len(labels) * frac))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _augment(batch: np.ndarray, size: int, gen: torch.Generator) -> torch.Tensor:
    """``(b, B, B, 3)`` uint8 → ``(b, 3, size, size)`` normalized, randomly augmented."""
    from torchvision.transforms import v2

    tf = v2.Compose([v2.RandomResizedCrop(size, scale=(0.7, 1.0), antialias=True),
                     v2.RandomHorizontalFlip(), v2.RandomRotation(10),
                     v2.ColorJitter(brightness=0.3, contrast=0.3)])
    x = torch.from_numpy(batch).permute(0, 3, 1, 2)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    out = torch.stack([tf(img) for img in x]).float() / 255.0
    return _normalize(out)


def _normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _eval_input(batch: np.ndarray, size: int) -> torch.Tensor:
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                      antialias=True)
    return _normalize(x)


def _evaluate(model: nn.Module, imgs: np.ndarray, labels: np.ndarray,
              cfg: TrainConfig) -> tuple[float, float]:
    model.eval()
    preds = []
    with torch.inference_mode():
        for s in range(0, len(imgs), cfg.batch_size):
            x = _eval_input(imgs[s:s + cfg.batch_size], cfg.input_size).to(cfg.device)
            preds.append(model(x).argmax(1).cpu().numpy())
    pred = np.concatenate(preds)
    return metrics.accuracy(labels, pred), metrics.macro_f1(labels, pred)


def train_resnet(data: Path, out: Path, cfg: TrainConfig | None = None, *,
                 init: Init | None = None, name: str = "resnet50-brand", version: str = "1",
                 progress: Progress | None = None) -> TrainReport:
    """Train on ``data`` (``label/*.jpg``), write checkpoint + manifest into ``out``.

    Args:
        data: the labeled folder.
        out: where the checkpoint and manifest go.
        cfg: settings (default :class:`TrainConfig`).
        init: the start (see :data:`Init`); needed when ``cfg.pretrained``, else random.
        name: model name.
        version: model version.
        progress: called with ``(epoch, epochs, message)``.

    Raises:
        FileNotFoundError: if ``data`` does not exist.
        ValueError: fewer than two labels or images; ``cfg.pretrained`` without ``init``.
    """
    report_progress = safe_progress(progress, job="training")
    cfg = cfg or TrainConfig()
    if init is None:
        if cfg.pretrained:
            raise ValueError("pretrained training starts from ImageNet weights: pass init "
                             "(analytics.classifiers.registry.imagenet_resnet50())")
        init = (None, "random (not requested)")
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    imgs, labels, groups = _load_images(Path(data), cfg.input_size)
    if len(set(labels.tolist())) < 2 or len(labels) < 4:
        raise ValueError(f"{data}: need at least 4 images of at least 2 labels")
    tr, va = _split(labels, groups, cfg.val_fraction, cfg.seed)
    model, init_note = build_model(init)
    model = model.to(cfg.device)
    counts = np.bincount(labels[tr], minlength=N_EMOTIONS).astype(np.float32)
    weights = torch.tensor(np.where(counts > 0, len(tr) / (np.count_nonzero(counts)
                                                            * np.maximum(counts, 1)), 0.0),
                           dtype=torch.float32).to(cfg.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    best = (-1.0, 0, None, (float("nan"), float("nan")))
    history: list[dict] = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(tr), generator=gen).numpy()
        losses = []
        for s in range(0, len(order), cfg.batch_size):
            idx = tr[order[s:s + cfg.batch_size]]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            x = _augment(imgs[idx], cfg.input_size, gen).to(cfg.device)
            loss = F.cross_entropy(model(x), torch.from_numpy(labels[idx]).to(cfg.device),
                                   weight=weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        acc, f1 = _evaluate(model, imgs[va], labels[va], cfg)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else None,
                        "val_accuracy": acc, "val_macro_f1": f1})
        report_progress(epoch, cfg.epochs, f"val macro-F1 {f1:.3f}")
        if f1 > best[0]:
            best = (f1, epoch, {k: v.detach().cpu().clone()
                                for k, v in model.state_dict().items()},
                    (acc, f1))
        elif epoch - best[1] >= cfg.patience:
            break
    return _write(out, best, init_note, history, cfg, name=name, version=version,
                  n=(len(tr), len(va)), seconds=time.perf_counter() - t0)


def _write(out: Path, best: tuple, init: str, history: list[dict], cfg: TrainConfig, *,
           name: str, version: str, n: tuple[int, int], seconds: float) -> TrainReport:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}-{version}.pt"
    torch.save(best[2], weights)
    manifest = out / f"{name}-{version}.json"
    report = TrainReport(manifest, weights, init, len(history), best[1], best[3][0],
                         best[3][1], n[0], n[1], seconds, history)
    manifest.write_text(json.dumps({
        "arch": "resnet50", "labels": [e.value for e in EMOTIONS],
        "input_size": cfg.input_size, "color": "rgb", "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD), "weights": weights.name,
        "weights_sha256": sha256_file(weights), "name": name, "version": version,
        "base_model": "imagenet" if init == "imagenet" else "random-init",
        "training": {"init": init, "config": asdict(cfg), "best_epoch": best[1],
                     "val_accuracy": best[3][0], "val_macro_f1": best[3][1],
                     "n_train": n[0], "n_val": n[1], "seconds": seconds}}, indent=2),
        encoding="utf-8")
    return report
