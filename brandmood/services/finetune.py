"""``brandmood finetune``: adapt the emotion model to the workspace's reviewed faces.

It learns from the faces whose reviews agree (their consensus label, :mod:`db.queries.consensus`;
disputed faces and faces still waiting for k reviews never train) and reports the reviewers'
own agreement beside the model's accuracy (:func:`brandmood.services.agreement.human_ceiling`):
a model cannot be expected to agree with people more than people agree with each other.

The job cuts every such face as the base network reads it (with a little more context for
training views), trains a head, *calibrates* it (a temperature and an uncertainty threshold
fitted on the reviewed faces' out-of-fold probabilities: :func:`analytics.finetune.adapt`)
and compares it with the base model on held-out people or assets (accuracy, macro-F1, ECE
before and after calibration). The new version is registered (a ``model_version`` row with
those metrics, files under ``$BRANDMOOD_HOME/models/``) only where it beats the base model on
the held-out faces.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics.classifiers.adapted import FrozenBase
from analytics.classifiers.registry import weight_paths
from analytics.finetune import (
    FinetuneConfig,
    FinetuneResult,
    LabeledFaces,
    finetune,
    save_adapted,
    store_spec,
)
from brandmood.core.access import Principal
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.core.types import EMOTIONS, FaceDetections
from brandmood.services import audit
from brandmood.services.agreement import HumanCeiling, human_ceiling
from db.models import AssetKind
from db.queries import model_versions as mv
from db.workspace import Workspace

ADAPTED_SUFFIX = "-adapted"
"""A version's name is its base's plus this: ``faceapi-adapted`` (``fer-adapted`` before)."""


def adapted_name(cfg: FinetuneConfig) -> str:
    """The model name the versions adapted with ``cfg`` are registered under."""
    return {"fer-mini-xception": "fer"}.get(cfg.base_model, cfg.base_model) + ADAPTED_SUFFIX


@dataclass(frozen=True)
class FinetuneOutcome:
    """The result, the registered version (None where it was not better), and the
    reviewers' agreement on the workspace's faces (the ceiling of the accuracy)."""

    result: FinetuneResult
    version_id: int | None
    manifest: Path | None
    skipped: list[tuple[int, str]]
    human: HumanCeiling


def reviewed_crops(ws: Workspace, *, brand_id: int | None = None,
                   cfg: FinetuneConfig | None = None
                   ) -> tuple[LabeledFaces, list[tuple[int, str]]]:
    """Aligned crops of every face with a consensus label (cut as
    :func:`analytics.finetune.store_spec` says for ``cfg``'s base), with labels and
    person/asset groups.

    Returns:
        ``(faces, skipped)``: ``(face_id, reason)`` for faces whose media cannot be read.
    """
    from analytics.align import crop_faces
    from analytics.images import load_image
    from brandmood.services.identity import frames_at

    with ws.session() as s:
        rows = mv.reviewed_faces(session=s, brand_id=brand_id)
    spec = store_spec(cfg or FinetuneConfig())
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
    arr = np.stack(crops) if crops else np.zeros((0, spec.size, spec.size, 3), np.uint8)
    return (LabeledFaces(arr, np.asarray(labels, np.int64), np.asarray(groups, dtype=object),
                         spec.margin), skipped)


def run_finetune(ws: Workspace, *, cfg: FinetuneConfig | None = None,
                 brand_id: int | None = None, activate: bool = False,
                 actor: Principal | str = "system") -> FinetuneOutcome:
    """Adapt on the reviewed faces; register the new version only where it is better
    (recorded in the audit trail as ``actor``'s model registration, in the same commit).

    Raises:
        ValueError: too few reviewed faces, labels or groups for a held-out comparison.
    """
    cfg = cfg or FinetuneConfig()
    data, skipped = reviewed_crops(ws, brand_id=brand_id, cfg=cfg)
    if len(data) == 0:
        raise ValueError("no reviewed faces with a consensus label yet: review faces on the "
                         "Review page first (with k reviews per face, most must agree)")
    with ws.session() as s:
        human = human_ceiling(session=s, brand_id=brand_id)
    blocks = dict.fromkeys(b for fs in cfg.candidates for b in fs.split("+"))
    networks = FrozenBase.for_features("+".join(blocks), weight_paths)
    result = finetune(data, cfg, networks=networks)
    if not result.improved:
        return FinetuneOutcome(result, None, None, skipped, human)
    name = adapted_name(cfg)
    with ws.session() as s:
        version = mv.next_version(session=s, name=name)
        folder = ws.config.home / "models" / f"{name}-{version}"
        try:
            manifest = save_adapted(result, folder, name=name, version=version)
            from brandmood.core.fetch import sha256_file

            row = mv.record_version(
                session=s, name=name, version=version, base_model=result.base_model,
                path=str(manifest), weights_sha256=sha256_file(folder / f"{name}-{version}.pt"),
                labels=[e.value for e in result.labels],
                metrics={**result.metrics_dict(), **human.as_metrics()},
                active=activate)
            audit.record(s, actor, AuditAction.MODEL_REGISTRATION,
                         object_kind=ObjectKind.MODEL_VERSION, object_id=row.id,
                         details={"name": name, "version": version, "activated": activate,
                                  "via": "finetune"})
            s.commit()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return FinetuneOutcome(result, row.id, manifest, skipped, human)
