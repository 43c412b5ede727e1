"""Process set-up that must happen before the numeric libraries load.

OpenMP threads (PyTorch, onnxruntime) busy-wait by default; on a shared 2-core machine
that made detection up to 10x slower (benchmarks/README.md). Entry points (the CLI, the
dashboard, the worker, the benchmarks and the test suite) call :func:`configure_process`
before anything imports torch; libraries never set process state on import.
"""

from __future__ import annotations

import os

OMP_WAIT_POLICY = "PASSIVE"


def configure_process(env: dict[str, str] | None = None) -> None:
    """Set OpenMP's wait policy to passive unless the environment already chose one.

    Args:
        env: the environment to update (default: ``os.environ``); only effective before
            the first import of torch or onnxruntime in this process.
    """
    target = os.environ if env is None else env
    target.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)


def configure_local_ray(token: str, env: dict[str, str] | None = None) -> None:
    """Process set-up for a private Ray that this process starts (before ``import ray``).

    Ray reads these when it is imported and hands them to the processes it starts:
    every listener binds 127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; without it
    Ray binds all interfaces), every connection must present the token
    (``RAY_AUTH_MODE=token``; a ``RAY_AUTH_TOKEN`` already set wins over ``token``), and
    no usage statistics are sent.

    Args:
        token: the cluster's secret (random per start).
        env: the environment to update (default: ``os.environ``).
    """
    target = os.environ if env is None else env
    target["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    target["RAY_AUTH_MODE"] = "token"
    target.setdefault("RAY_AUTH_TOKEN", token)
    target["RAY_USAGE_STATS_ENABLED"] = "0"


def configure_worker_threads(threads: int, env: dict[str, str] | None = None) -> None:
    """Process set-up of an analysis worker (a Ray actor) that shares its machine with
    others: ``threads`` PyTorch/OpenMP threads (``BRANDMOOD_THREADS``, read when the
    models load) and OpenMP's passive wait policy. Call it before torch loads.
    """
    target = os.environ if env is None else env
    target["BRANDMOOD_THREADS"] = str(int(threads))
    target["OMP_NUM_THREADS"] = str(int(threads))
    target.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
