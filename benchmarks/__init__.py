"""brandmood's benchmarks: scripts that print a table and write JSON, run from the repository
root as ``python -m benchmarks.<name> ...`` (benchmarks/README.md).

Every script here is an entry point, and Python imports this package before any of them, so
the process set-up that must come before torch loads happens here, once for all of them
(:func:`brandmood.core.runtime.configure_process`: OpenMP's passive wait policy unless the
environment chose one). The product never imports this package (import-linter).
"""

from brandmood.core.runtime import configure_process

configure_process()
