"""Face detection, emotion classification, aggregation and reports (pure computation).

OpenMP threads (PyTorch, onnxruntime) default to passive waiting here: busy-waiting
threads made detection up to 10x slower on a shared 2-core machine (benchmarks/README.md).
It must be set before torch loads, hence here; an explicit environment value wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
