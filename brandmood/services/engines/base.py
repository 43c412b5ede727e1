"""What every analysis engine shares: the work, its results and the :class:`Engine` protocol.

The analysis job (:func:`brandmood.services.analyze.run_analysis`) lists the assets to
analyze, groups them by content (:class:`WorkItem`: one stored file, the assets that use
it), and hands them to an engine's one function, :meth:`Engine.analyze`, which yields one
:class:`ItemResult` per item, in any order. The job writes each result to the database
(idempotently, see :func:`db.queries.analysis.write_asset_result`). Engines never touch
the database: they need the media store and the models only, so a Ray worker needs no
database credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

from analytics.pipeline import Analyzer
from brandmood.core.types import FaceDetections
from db.media_store import MediaStore
from db.models import AssetKind
from db.queries.analysis import RunSignature


class EngineError(RuntimeError):
    """The engine cannot run the job (no cluster, workers that disagree, ...)."""


@dataclass(frozen=True)
class AnalyzerSpec:
    """What builds the job's analyzer in any process: the classifier's name (resolved, not
    None, so every node builds the same model) and the uncertainty threshold.

    Attributes:
        model: registered classifier name (or ``onnx:<file>`` / a manifest path).
        min_confidence: the uncertainty rule's minimum confidence (None: the default rule).
        overlap: :attr:`Analyzer.overlap` (None: the analyzer's default).
    """

    model: str
    min_confidence: float | None = None
    overlap: bool | None = None

    def build(self) -> Analyzer:
        """The analyzer (weights load once per process; see ``default_analyzer``)."""
        from analytics.pipeline import default_analyzer
        from analytics.uncertainty import UncertaintyRule

        base = default_analyzer(self.model)
        same_rule = (self.min_confidence is None
                     or float(self.min_confidence) == base.rule.min_confidence)
        if same_rule and (self.overlap is None or self.overlap == base.overlap):
            return base
        rule = base.rule if same_rule else UncertaintyRule(
            min_confidence=float(self.min_confidence), min_margin=base.rule.min_margin)
        return Analyzer(base.detector, base.classifier, rule,
                        video_max_side=base.video_max_side, overlap=self.overlap)


def run_signature(analyzer: Analyzer, *, every_s: float) -> RunSignature:
    """The run signature of an analyzer and the job's parameters."""
    info = analyzer.classifier.info
    params = dict(analyzer.parameters)
    params["every_s"] = float(every_s)
    return RunSignature(model_name=info.name, model_version=info.version,
                        weights_sha256=info.weights_sha256 or "",
                        detector=analyzer.detector.info.label, parameters=params)


def signature_text(signature: RunSignature) -> str:
    """Canonical JSON of a signature (what two processes compare)."""
    return json.dumps(asdict(signature), sort_keys=True, default=str)


@dataclass(frozen=True)
class WorkItem:
    """One unit of work: a stored file (content-addressed, so its key is its hash) and the
    assets of this job that use it.

    Attributes:
        key: the item's index in the job's list (results name it).
        media_path: the file in the media store (``ab/cd/<sha256>.<ext>``).
        kind: image or video.
        asset_ids: the assets whose result this is.
    """

    key: int
    media_path: str
    kind: AssetKind
    asset_ids: tuple[int, ...]


@dataclass(frozen=True)
class ItemResult:
    """What an engine found in one :class:`WorkItem`.

    Attributes:
        key: the item's :attr:`WorkItem.key`.
        frames: ``(timestamp ms, faces)`` per analyzed frame (one at 0 ms for an image).
        summary: the outcome's summary (kind, counts; tracks for a video).
        seconds: time spent on the item.
        error: why the item failed (then ``frames`` is empty).
        timings: stage seconds (``decode_s``, ``detect_s``, …) this result accounts for.
        signature: :func:`signature_text` of the worker's analyzer (remote engines).
        worker_pid: the process that analyzed it (remote engines).
    """

    key: int
    frames: tuple[tuple[int, FaceDetections], ...] = ()
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    signature: str | None = None
    worker_pid: int | None = None


@dataclass(frozen=True)
class AnalysisTask:
    """What an engine needs besides the items.

    Attributes:
        spec: builds the analyzer wherever the work runs.
        every_s: video sampling interval in seconds.
        media: the media store the items are read from.
        signature: the run's signature (remote workers must build exactly this).
        analyzer: an analyzer already built in this process (in-process engines use it).
    """

    spec: AnalyzerSpec
    every_s: float
    media: MediaStore
    signature: RunSignature
    analyzer: Analyzer | None = None


@runtime_checkable
class Engine(Protocol):
    """Runs the analysis of work items somewhere.

    Attributes:
        name: ``"local"`` or ``"ray"``.
        in_process: True where the work runs in this process (the job then builds the
            analyzer here and hands it over in :attr:`AnalysisTask.analyzer`).
    """

    name: str
    in_process: bool

    def analyze(self, items: Sequence[WorkItem], task: AnalysisTask) -> Iterator[ItemResult]:
        """One result per item, as each is done (any order; a retried item may come twice).

        Raises:
            EngineError: if the engine cannot run the job.
        """
        ...

    def close(self) -> None:
        """Release what the engine started (threads, a private cluster)."""
        ...
