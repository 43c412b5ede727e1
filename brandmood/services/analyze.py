"""The analysis job: run the detector and classifier over stored assets.

One :class:`~db.models.AnalysisRun` per model signature (classifier, weights, detector,
parameters). The job lists the assets to analyze, groups them by content (one work item
per stored file) and hands the items to an engine (:mod:`brandmood.services.engines`:
the threads of this process by default, or a Ray cluster), which analyzes them in
batches and yields one result per item; the job writes each asset's result in its own
transaction, as an idempotent upsert keyed by (asset, run): a killed job loses at most
the assets in flight, and a retried or duplicated result replaces, never adds. Running
the job again with the same model and parameters continues the same run: assets it
already analyzed are skipped. An asset that cannot be decoded is marked failed with its
reason and the job goes on.

When nothing is pending the models are not loaded at all: the run signature of the
workspace's settings is remembered (``.analysis-signatures.json`` in the workspace home,
keyed by the settings and a digest of the analytics code and detector version) from the
last job that built the analyzer, and the job only checks that run in the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from analytics.classifiers.registry import ModelKind, model_kind
from analytics.fairness import ITA_KEY
from analytics.pipeline import Analyzer
from brandmood.core.progress import Progress, safe_progress
from brandmood.core.settings import load_config
from brandmood.services.engines.base import (
    AnalysisTask,
    AnalyzerSpec,
    Engine,
    EngineError,
    ItemResult,
    WorkItem,
    run_signature,
    signature_text,
)
from brandmood.services.engines.local import LocalEngine
from db.models import Asset, AssetStatus, RunStatus
from db.queries import analysis as q
from db.queries.review import SettingKey, get_setting
from db.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["AnalysisSummary", "AssetOutcome", "analyzer_spec", "run_analysis",
           "run_signature", "workspace_analyzer"]


@dataclass(frozen=True)
class AssetOutcome:
    """What became of one asset in this job."""

    asset_id: int
    status: AssetStatus
    n_faces: int = 0
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"asset_id": self.asset_id, "status": self.status.value,
                "n_faces": self.n_faces, "reason": self.reason}


@dataclass
class AnalysisSummary:
    """The job's result: which run, what was processed, counts and timings."""

    run_id: int
    model: str
    resumed: bool
    skipped: int
    items: list[AssetOutcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    models_loaded: bool = True

    @property
    def analyzed(self) -> int:
        return sum(1 for i in self.items if i.status is AssetStatus.ANALYZED)

    @property
    def failed(self) -> int:
        return sum(1 for i in self.items if i.status is AssetStatus.FAILED)

    @property
    def faces(self) -> int:
        return sum(i.n_faces for i in self.items)

    def to_json(self) -> dict[str, object]:
        return {"run_id": self.run_id, "model": self.model, "resumed": self.resumed,
                "analyzed": self.analyzed, "failed": self.failed, "faces": self.faces,
                "skipped": self.skipped, "timings": self.timings,
                "models_loaded": self.models_loaded,
                "items": [i.to_json() for i in self.items]}


def _settings(ws: Workspace, model: str | None) -> tuple[str | None, str | None]:
    """``(model or the Settings page's model, the Settings page's uncertainty threshold)``."""
    with ws.session() as session:
        chosen = model or get_setting(session=session, key=SettingKey.DEFAULT_MODEL)
        threshold = get_setting(session=session, key=SettingKey.UNCERTAINTY_THRESHOLD)
    return chosen, threshold


def analyzer_spec(ws: Workspace, *, model: str | None = None) -> AnalyzerSpec:
    """What builds the analyzer the workspace's settings ask for, in any process.

    ``model`` wins; else the default model chosen on the Settings page (or activated by
    fine-tuning), else ``BRANDMOOD_MODEL`` or the registry default. The Settings page's
    uncertainty threshold replaces the default rule's minimum confidence.
    """
    chosen, threshold = _settings(ws, model)
    name = (chosen or load_config().model).strip()
    return AnalyzerSpec(model=name,
                        min_confidence=None if threshold is None else float(threshold))


def workspace_analyzer(ws: Workspace, *, model: str | None = None) -> Analyzer:
    """The analyzer the workspace's settings ask for (see :func:`analyzer_spec`)."""
    return analyzer_spec(ws, model=model).build()


AnalyzerFactory = Callable[..., Analyzer]
"""Builds the job's analyzer: ``factory(ws, model=model)``, like :func:`workspace_analyzer`."""


def run_analysis(ws: Workspace, *, model: str | None = None,
                 asset_ids: list[int] | None = None, every_s: float = 1.0,
                 progress: Progress | None = None, new_run: bool = False,
                 analyzer: Analyzer | None = None,
                 make_analyzer: AnalyzerFactory = workspace_analyzer,
                 engine: Engine | None = None) -> AnalysisSummary:
    """Analyze pending assets (or the given ones) and store their faces.

    Args:
        ws: the workspace.
        model: classifier name (None → the workspace setting, see
            :func:`workspace_analyzer`).
        asset_ids: analyze exactly these assets (again, if already done).
        every_s: video sampling interval in seconds.
        progress: told ``(done, total, message)`` after each asset (a reporter that
            raises is logged once and ignored).
        new_run: start a new run even if one with the same signature exists.
        analyzer: use this analyzer instead of building one (``model`` is then ignored;
            in-process engines only: a remote engine's workers build theirs from the
            settings and must match its signature).
        make_analyzer: builds the analyzer, called only when there is work (or when the
            run signature of these settings is not remembered yet). A remote engine
            skips it when the signature is remembered: its workers build the analyzer.
        engine: where the analysis runs (None: :class:`LocalEngine`, this process).

    Returns:
        What the job did.

    Raises:
        ValueError: if ``every_s`` is not positive.
        db.queries.core.NotFoundError: if a given asset id does not exist.
        brandmood.services.engines.EngineError: if the engine cannot run the job.
    """
    if not every_s > 0:
        raise ValueError(f"every_s must be positive, got {every_s}")
    started = time.perf_counter()
    engine = engine or LocalEngine()
    prepared = _prepare(ws, model=model, asset_ids=asset_ids, every_s=every_s,
                        new_run=new_run, analyzer=analyzer, make_analyzer=make_analyzer,
                        in_process=engine.in_process, started=started)
    if isinstance(prepared, AnalysisSummary):
        return prepared
    signature, analyzer = prepared
    with ws.sessions.begin() as session:
        run, resumed = q.start_run(session=session, signature=signature, new_run=new_run)
        todo = q.assets_to_analyze(session=session, run_id=run.id, asset_ids=asset_ids)
        done_before = q.count_done(session=session, run_id=run.id)
        run_id = run.id
        items = work_items(q.asset_media(session=session, asset_ids=todo))
    summary = AnalysisSummary(run_id=run_id, model=_label(signature), resumed=resumed,
                              skipped=done_before if asset_ids is None else 0)
    task = AnalysisTask(spec=analyzer_spec(ws, model=model), every_s=float(every_s),
                        media=ws.media, signature=signature, analyzer=analyzer)
    writer = _Writer(ws, run_id, signature, summary, progress, total=len(todo))
    try:
        if items:
            for result in engine.analyze(items, task):
                writer.write(items[result.key], result)
    except BaseException:
        _close(ws, run_id, writer.timings, started, RunStatus.RUNNING)
        raise
    summary.timings = _close(ws, run_id, writer.timings, started, RunStatus.DONE)
    return summary


def _prepare(ws: Workspace, *, model: str | None, asset_ids: list[int] | None,
             every_s: float, new_run: bool, analyzer: Analyzer | None,
             make_analyzer: AnalyzerFactory, in_process: bool, started: float
             ) -> AnalysisSummary | tuple[q.RunSignature, Analyzer | None]:
    """The run signature and, where built here, the analyzer; or the finished job's
    summary when nothing is pending (no model loaded)."""
    if analyzer is not None:
        return run_signature(analyzer, every_s=every_s), analyzer
    memo = _SignatureMemo(ws, model, every_s, make_analyzer)
    recalled = memo.recall()
    if asset_ids is None and not new_run:
        idle = _idle_summary(ws, recalled, started)
        if idle is not None:
            return idle
    elif asset_ids is not None:  # unknown ids fail before any model loads
        with ws.session() as session:
            q.assets_to_analyze(session=session, run_id=0, asset_ids=asset_ids)
    if not in_process and recalled is not None:
        return recalled, None  # the workers build the analyzer
    analyzer = make_analyzer(ws, model=model)
    memo.remember(analyzer)
    return run_signature(analyzer, every_s=every_s), analyzer if in_process else None


def work_items(assets: Sequence[tuple[int, object, str]]) -> list[WorkItem]:
    """One item per stored file: ``(asset id, kind, media path)`` rows grouped by file
    (assets of several brands with the same content are analyzed once), in first-seen
    order."""
    groups: dict[str, tuple[object, list[int]]] = {}
    for asset_id, kind, media_path in assets:
        groups.setdefault(media_path, (kind, []))[1].append(int(asset_id))
    return [WorkItem(key=k, media_path=path, kind=kind, asset_ids=tuple(ids))
            for k, (path, (kind, ids)) in enumerate(groups.items())]


def _label(signature: q.RunSignature) -> str:
    return f"{signature.model_name}@{signature.model_version}"


def _idle_summary(ws: Workspace, signature: q.RunSignature | None,
                  started: float) -> AnalysisSummary | None:
    """The job's result when the run of ``signature`` has nothing pending, else None.

    The run is continued and closed exactly as a job that found nothing to do would
    (a run is created if none has this signature and there is no asset at all).
    """
    if signature is None:
        return None
    with ws.sessions.begin() as session:
        run = q.find_run(session=session, signature=signature)
        if run is not None:
            pending = q.assets_to_analyze(session=session, run_id=run.id)
        else:
            pending = session.scalars(select(Asset.id).limit(1)).all()
        if pending:
            return None
        run, resumed = q.start_run(session=session, signature=signature)
        timings = {"total_s": round(time.perf_counter() - started, 4)}
        q.finish_run(session=session, run_id=run.id, timings=timings)
        skipped = q.count_done(session=session, run_id=run.id)
        run_id = run.id
    return AnalysisSummary(run_id=run_id, model=_label(signature), resumed=resumed,
                           skipped=skipped, timings=timings, models_loaded=False)


class _SignatureMemo:
    """The run signature the analyzer of these settings had last time (a JSON file).

    Only for the registered wheel models brandmood ships (their code is in the digest),
    built by :func:`workspace_analyzer`-like factories:
    the key holds the resolved model name, the stored uncertainty threshold, ``every_s``,
    the factory's name and a digest of the code and package version the signature
    depends on, so a change to any of them misses the memo (and the models load).
    """

    FILE = ".analysis-signatures.json"
    KEEP = 32

    def __init__(self, ws: Workspace, model: str | None, every_s: float,
                 factory: AnalyzerFactory) -> None:

        chosen, threshold = _settings(ws, model)
        name = (chosen or load_config().model).strip()
        self.path = ws.config.home / self.FILE
        self.every_s = float(every_s)
        self.key: str | None = None
        if model_kind(name) is ModelKind.WHEEL:
            parts = [name, threshold, float(every_s), _qualname(factory), _code_digest()]
            self.key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def recall(self) -> q.RunSignature | None:
        """The remembered signature, or None."""
        entry = self._load().get(self.key) if self.key else None
        try:
            return q.RunSignature(**entry) if isinstance(entry, dict) else None
        except TypeError:
            return None

    def remember(self, analyzer: Analyzer) -> None:
        """Store the analyzer's signature (best effort: a read-only home only costs time)."""
        if self.key is None:
            return
        sig = run_signature(analyzer, every_s=self.every_s)
        data = self._load()
        data.pop(self.key, None)
        data[self.key] = {"model_name": sig.model_name, "model_version": sig.model_version,
                          "weights_sha256": sig.weights_sha256, "detector": sig.detector,
                          "parameters": sig.parameters}
        data = dict(list(data.items())[-self.KEEP:])
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sig-")
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)
        except OSError:
            log.warning("could not write %s", self.path, exc_info=True)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


def _qualname(factory: AnalyzerFactory) -> str:
    return f"{getattr(factory, '__module__', '')}.{getattr(factory, '__qualname__', '')}"


def _code_digest() -> str:
    """Digest of what a run signature depends on besides the settings: the analytics
    code (models' names, versions, parameters, pinned weights) and facenet-pytorch's version."""
    from importlib.metadata import PackageNotFoundError, version

    import analytics
    from brandmood.core import fetch

    h = hashlib.sha256()
    roots = [Path(analytics.__file__).parent]
    files = sorted(p for r in roots for p in r.rglob("*.py"))
    files += [Path(__file__), Path(fetch.__file__)]
    files += sorted((Path(__file__).parent / "engines").glob("*.py"))
    for path in files:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    try:
        h.update(version("facenet-pytorch").encode())
    except PackageNotFoundError:
        h.update(b"no facenet-pytorch")
    return h.hexdigest()


def _close(ws: Workspace, run_id: int, stage: dict[str, float], started: float,
           status: RunStatus) -> dict[str, float]:
    timings = {k: round(v, 4) for k, v in stage.items()}
    timings["total_s"] = round(time.perf_counter() - started, 4)
    try:
        with ws.sessions.begin() as session:
            q.finish_run(session=session, run_id=run_id, timings=timings, status=status)
    except Exception:  # never hide the error that stopped the job
        if status is RunStatus.DONE:
            raise
        log.exception("could not record the interrupted run %s", run_id)
    return timings


class _Writer:
    """Writes each engine result to the database, one transaction per asset."""

    def __init__(self, ws: Workspace, run_id: int, signature: q.RunSignature,
                 summary: AnalysisSummary, progress: Progress | None, total: int) -> None:
        self.ws, self.run_id, self.summary, self.total = ws, run_id, summary, total
        self.signature = signature_text(signature)
        self.progress = safe_progress(progress, job="analysis")
        self.timings: dict[str, float] = {}
        self._seen: set[int] = set()

    def write(self, item: WorkItem, result: ItemResult) -> None:
        """Store one item's result for each of its assets.

        Raises:
            EngineError: if a worker built an analyzer with another signature.
        """
        if result.signature is not None and result.signature != self.signature:
            raise EngineError(f"a worker (pid {result.worker_pid}) built another analyzer "
                              f"than this run's: {result.signature} != {self.signature}; "
                              "are the cluster's nodes on the same brandmood version, "
                              "settings and weights?")
        if item.key in self._seen:  # a retried task's second answer: already stored
            log.info("item %s came back twice; its result is stored once", item.key)
            return
        self._seen.add(item.key)
        for key, value in result.timings.items():
            self.timings[key] = self.timings.get(key, 0.0) + float(value)
        for asset_id in item.asset_ids:
            if result.error is None:
                self._store(asset_id, result)
            else:
                self._fail(asset_id, result)

    def _store(self, asset_id: int, result: ItemResult) -> None:
        t = time.perf_counter()
        with self.ws.sessions.begin() as session:
            frames = list(result.frames)
            n = q.write_asset_result(session=session, run_id=self.run_id, asset_id=asset_id,
                                     frames=frames, summary=result.summary,
                                     seconds=result.seconds,
                                     ita=[f.extra.get(ITA_KEY) for _, f in frames])
        self.timings["write_s"] = self.timings.get("write_s", 0.0) + time.perf_counter() - t
        if n is not None:  # None: the asset was deleted while the job ran
            self._done(AssetOutcome(asset_id, AssetStatus.ANALYZED, n_faces=n))

    def _fail(self, asset_id: int, result: ItemResult) -> None:
        with self.ws.sessions.begin() as session:
            written = q.write_asset_failure(session=session, run_id=self.run_id,
                                            asset_id=asset_id, reason=result.error or "",
                                            seconds=result.seconds)
        if written:
            self._done(AssetOutcome(asset_id, AssetStatus.FAILED, reason=result.error))

    def _done(self, outcome: AssetOutcome) -> None:
        self.summary.items.append(outcome)
        word = "failed" if outcome.status is AssetStatus.FAILED else f"{outcome.n_faces} faces"
        self.progress(len(self.summary.items), self.total, f"asset {outcome.asset_id}: {word}")
