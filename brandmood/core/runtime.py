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
