"""The default engine: the threads of this process (what ``brandmood analyze`` always did)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from brandmood.services.engines.base import AnalysisTask, ItemResult, WorkItem
from brandmood.services.engines.batch import IMAGE_BATCH, analyze_items


class LocalEngine:
    """Analyzes :data:`IMAGE_BATCH` items at a time with the job's analyzer, in this
    process (the analyzer overlaps detection and classification in threads)."""

    name = "local"
    in_process = True

    def __init__(self, batch_size: int = IMAGE_BATCH) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size

    def analyze(self, items: Sequence[WorkItem], task: AnalysisTask) -> Iterator[ItemResult]:
        """Results batch by batch, in the items' order (images of a batch before its
        videos)."""
        analyzer = task.analyzer or task.spec.build()
        for start in range(0, len(items), self.batch_size):
            yield from analyze_items(analyzer, task.media, items[start:start + self.batch_size],
                                     every_s=task.every_s)

    def close(self) -> None:
        """Nothing to release."""
