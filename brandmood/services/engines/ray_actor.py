"""The Ray actor of :class:`~brandmood.services.engines.ray_engine.RayEngine`: a callable
class for Ray Data's ``map_batches``, so each actor loads the models once and analyzes
batch after batch.

Kept light at import (Ray imports it in every worker to unpickle the class): the models
load in ``__init__``, after the process set-up that must precede torch.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import replace

import numpy as np

from brandmood.services.engines.base import AnalyzerSpec, WorkItem
from db.media_store import MediaStore
from db.models import AssetKind


class RayAnalyzer:
    """Analyzes Ray Data batches of work items; one instance per actor.

    Args:
        spec: builds the analyzer (the same models and rule as the driver's run).
        media: the media store (a folder every node mounts, or a bucket); items' bytes
            are read here, in the actor, never shipped through Ray.
        every_s: video sampling interval in seconds.
        threads: torch threads of this actor.

    A batch is ``{"key", "media_path", "kind", "asset_ids"}`` columns; the answer is
    ``{"key", "result"}``, each result a pickled
    :class:`~brandmood.services.engines.base.ItemResult` carrying the actor's run
    signature and process id.
    """

    def __init__(self, spec: AnalyzerSpec, media: MediaStore, every_s: float,
                 threads: int = 1) -> None:
        from brandmood.core.runtime import configure_worker_threads

        configure_worker_threads(threads)  # before torch loads
        from brandmood.services.engines.base import run_signature, signature_text

        self.analyzer = spec.build()
        self.media = media
        self.every_s = float(every_s)
        self.signature = signature_text(run_signature(self.analyzer, every_s=self.every_s))
        self.pid = os.getpid()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from brandmood.services.engines.batch import analyze_items

        items = [WorkItem(key=int(k), media_path=str(p), kind=AssetKind(str(kind)),
                          asset_ids=tuple(int(a) for a in ids))
                 for k, p, kind, ids in zip(batch["key"], batch["media_path"], batch["kind"],
                                            batch["asset_ids"], strict=True)]
        results = analyze_items(self.analyzer, self.media, items, every_s=self.every_s)
        payloads = [pickle.dumps(replace(r, signature=self.signature, worker_pid=self.pid))
                    for r in results]
        out = np.empty(len(payloads), dtype=object)
        out[:] = payloads
        return {"key": np.array([r.key for r in results], dtype=np.int64), "result": out}
