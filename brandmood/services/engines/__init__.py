"""Analysis engines: where the analysis of a job's assets runs.

:class:`Engine` is the one interface the analysis job (and the job-queue worker) uses:
``engine.analyze(items, task)`` yields one result per work item. Engines:

- :class:`LocalEngine` (default, ``BRANDMOOD_ENGINE=local``): threads of this process;
- :class:`~brandmood.services.engines.ray_engine.RayEngine` (``BRANDMOOD_ENGINE=ray``):
  actors on a Ray cluster (``BRANDMOOD_RAY_ADDRESS``), built by :func:`engine_for`.
"""

from __future__ import annotations

from brandmood.core.settings import Config
from brandmood.services.engines.base import (
    AnalysisTask,
    AnalyzerSpec,
    Engine,
    EngineError,
    ItemResult,
    WorkItem,
)
from brandmood.services.engines.local import LocalEngine

__all__ = ["AnalysisTask", "AnalyzerSpec", "Engine", "EngineError", "ItemResult",
           "LocalEngine", "WorkItem", "engine_for"]


def engine_for(config: Config, *, name: str | None = None, address: str | None = None,
               actors: int | None = None) -> Engine:
    """The engine the settings (or the arguments, which win) name.

    Args:
        config: the settings (``BRANDMOOD_ENGINE``, ``BRANDMOOD_RAY_ADDRESS``).
        name: ``"local"`` or ``"ray"``.
        address: the Ray cluster (``auto``, ``host:port``, ``ray://…``; None: a private
            Ray on 127.0.0.1).
        actors: Ray actors (None: one per CPU of the cluster).

    Raises:
        ValueError: for an unknown engine name.
    """
    chosen = (name or config.engine).strip().lower()
    if chosen == "local":
        return LocalEngine()
    if chosen == "ray":
        from brandmood.services.engines.ray_engine import RayEngine

        return RayEngine(address=address or config.ray_address, actors=actors)
    raise ValueError(f"unknown engine {chosen!r}: use local or ray")
