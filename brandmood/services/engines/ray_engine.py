"""The Ray engine: a job's work items analyzed by a pool of Ray actors, with Ray Data.

``ray.data.from_items`` holds the items (ids and media paths only, never media bytes);
``map_batches`` with the callable class :class:`~brandmood.services.engines.ray_actor.
RayAnalyzer` runs a fixed pool of actors that each load the models once and read their
items' bytes from the media store themselves; the driver streams the results with
``iter_batches`` and writes them to the database as they come. Ray Data's streaming
executor keeps a bounded number of batches in flight (backpressure: a slow database
writer holds the actors back instead of filling memory).

Failures: an actor that dies (killed, out of memory) is restarted, its models load again,
and its batch runs again (``max_restarts`` / ``max_task_retries``, bounded so that an
item that kills every worker cannot loop forever); the database writes are idempotent,
so an item analyzed twice is stored once. Actors ask for :data:`CPUS_PER_ACTOR` logical
CPUs (fractional: with whole CPUs on a 2-CPU machine a Ray Data task waited for a CPU
forever in a trial) and run :data:`THREADS_PER_ACTOR` torch threads each; inside an
actor the analyzer works as in the local runner (detection and classification overlap
on a machine with two or more cores, image by image), so both engines compute exactly
the same numbers.
"""

from __future__ import annotations

import logging
import math
import pickle
import warnings
from collections.abc import Iterator, Sequence

from brandmood.services.engines.base import AnalysisTask, EngineError, ItemResult, WorkItem
from brandmood.services.engines.ray_cluster import RayConnection, connect
from db.media_store import LocalMediaStore

log = logging.getLogger(__name__)

CPUS_PER_ACTOR = 0.5
"""Logical CPUs each actor reserves (leaves room for Ray Data's own tasks)."""
THREADS_PER_ACTOR = 1
"""Torch threads per actor (one actor per core does the parallel work)."""
BATCH_SIZE = 4
"""Items per actor call (small: balanced actors, little work redone after a failure)."""
MAX_RETRIES = 4
"""Restarts of a dead actor and retries of its batch before the job fails."""
MAX_BLOCKS = 2000
"""Most input blocks (a block is the unit Ray Data retries and schedules)."""
ACTOR_MEMORY_BYTES = 2 * 2**30
"""Memory an actor may need (measured peak RSS about 2 GB with the default models on
2000-px photos, benchmarks/scale.py): the default pool fits the cluster's memory."""


class RayEngine:
    """Analysis on a Ray cluster (see the module docstring).

    Args:
        address: the cluster (``auto``, ``host:port``, ``ray://…``; None: a private Ray
            on 127.0.0.1, see :mod:`~brandmood.services.engines.ray_cluster`).
        actors: actors in the pool (None: :meth:`pool_size`).
        cpus_per_actor: logical CPUs each actor reserves.
        threads_per_actor: torch threads in each actor.
        batch_size: items per actor call.
        max_retries: actor restarts and batch retries after a worker dies.

    Attributes:
        worker_pids: process ids of the actors that answered, in order of first answer.
    """

    name = "ray"
    in_process = False

    def __init__(self, address: str | None = None, *, actors: int | None = None,
                 cpus_per_actor: float = CPUS_PER_ACTOR,
                 threads_per_actor: int = THREADS_PER_ACTOR, batch_size: int = BATCH_SIZE,
                 max_retries: int = MAX_RETRIES) -> None:
        if actors is not None and actors < 1:
            raise ValueError(f"actors must be at least 1, got {actors}")
        if not cpus_per_actor > 0 or threads_per_actor < 1 or batch_size < 1:
            raise ValueError("cpus_per_actor, threads_per_actor and batch_size must be "
                             "positive")
        self.address = address
        self.actors = actors
        self.cpus_per_actor = float(cpus_per_actor)
        self.threads_per_actor = int(threads_per_actor)
        self.batch_size = int(batch_size)
        self.max_retries = int(max_retries)
        self.worker_pids: list[int] = []
        self._conn: RayConnection | None = None

    def connect(self) -> RayConnection:
        """Connect (or start the private cluster) now; later calls reuse the connection.

        Raises:
            EngineError: if the cluster cannot be reached or started.
        """
        if self._conn is None:
            self._conn = connect(self.address)
        return self._conn

    def pool_size(self) -> int:
        """Actors of the next job: the given number, else one per CPU of the cluster, at
        most one per :data:`ACTOR_MEMORY_BYTES` of its memory."""
        import ray

        self.connect()
        if self.actors is not None:
            return self.actors
        res = ray.cluster_resources()
        by_memory = int(res.get("memory", 0) // ACTOR_MEMORY_BYTES) or 1
        return max(1, min(int(res.get("CPU", 1)), by_memory))

    def analyze(self, items: Sequence[WorkItem], task: AnalysisTask) -> Iterator[ItemResult]:
        """Results as the actors finish them (any order; see the module docstring).

        Raises:
            EngineError: if the cluster cannot be reached or the job fails there.
        """
        if not items:
            return
        out = self._dataset(items, task)
        try:
            for batch in out.iter_batches(batch_size=None, batch_format="numpy",
                                          prefetch_batches=1):
                for payload in batch["result"]:
                    result: ItemResult = pickle.loads(payload)
                    if result.worker_pid is not None and \
                            result.worker_pid not in self.worker_pids:
                        self.worker_pids.append(result.worker_pid)
                    yield result
        except EngineError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("ray"):
                text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
                raise EngineError(f"the Ray job failed: {text}") from exc
            raise

    def _dataset(self, items: Sequence[WorkItem], task: AnalysisTask):
        """The lazy Ray Data pipeline: items → actor pool → results."""
        import ray.data

        from brandmood.services.engines.ray_actor import RayAnalyzer

        actors = self.pool_size()
        if isinstance(task.media, LocalMediaStore) and len(ray.nodes()) > 1:
            log.warning("media in the local folder %s: every Ray node must mount it there "
                        "(or use BRANDMOOD_MEDIA_URL=s3://…)", task.media.location)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.execution_options.preserve_order = False
        rows = [{"key": i.key, "media_path": i.media_path, "kind": i.kind.value,
                 "asset_ids": list(i.asset_ids)} for i in items]
        blocks = min(MAX_BLOCKS, math.ceil(len(rows) / self.batch_size))
        with warnings.catch_warnings():
            # Ray 2.60 deprecates passing max_restarts / max_task_retries this way (to be
            # removed in 2.64) without a named replacement yet; Data's own default is to
            # retry forever, which an item that kills every worker would never leave.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            return ray.data.from_items(rows, override_num_blocks=max(1, blocks)).map_batches(
                RayAnalyzer, fn_constructor_kwargs={"spec": task.spec, "media": task.media,
                                                    "every_s": task.every_s,
                                                    "threads": self.threads_per_actor},
                batch_size=self.batch_size, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=self.cpus_per_actor,
                max_restarts=self.max_retries, max_task_retries=self.max_retries)

    def close(self) -> None:
        """Disconnect (a private cluster this engine started stops)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


__all__ = ["EngineError", "RayEngine"]
