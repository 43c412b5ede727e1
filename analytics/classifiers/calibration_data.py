"""Calibration and uncertainty thresholds shipped with the registered models (data).

Written by ``python -m benchmarks.model_cv --write-calibration`` from the two dev sets
(JAFFE photos, CK+48 crops): per model, the calibration map fitted on every dev face (the
two sets weighted equally) and the minimum confidence at which the faces marked certain
reached the target accuracy; ``cv`` holds the subject-grouped cross-validation figures of
the whole procedure (map and threshold fitted on the training people of each fold, scored
on the others). docs/models.md explains the numbers. A model without an entry is not
calibrated and uses :data:`analytics.uncertainty.FALLBACK_RULE`.
"""

from __future__ import annotations

CALIBRATION: dict[str, dict] = {}
