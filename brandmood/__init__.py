"""brandmood: emotions in a brand's visual communication (CLI, jobs, configuration)."""

import analytics as _analytics  # noqa: F401  (sets OpenMP's wait policy before torch loads)
