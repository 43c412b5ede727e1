"""The analysis job: run the detector and classifier over stored assets.

One :class:`~db.models.AnalysisRun` per model signature (classifier, weights, detector,
parameters). Assets are processed in batches (images decoded and analyzed together,
videos one by one, streamed) and each asset is written and committed in its own
transaction, so a killed job loses at most the asset in flight. Running the job again
with the same model and parameters continues the same run: assets it already analyzed
are skipped, and an asset caught mid-write is replaced, never duplicated. An asset that
cannot be decoded is marked failed with its reason and the job goes on.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from analytics.classifiers.registry import ModelKind, model_kind
from analytics.fairness import ITA_KEY
from analytics.images import ImageDecodeError, load_image
from analytics.pipeline import Analyzer, default_analyzer, prefetch
from analytics.uncertainty import UncertaintyRule
from analytics.video import VideoDecodeError
from brandmood.core.progress import Progress, safe_progress
from brandmood.core.settings import load_config
from brandmood.core.types import FaceDetections
from db.media_store import MediaStoreError
from db.models import Asset, AssetKind, AssetStatus, RunStatus
from db.queries import analysis as q
from db.queries.review import SettingKey, get_setting
from db.workspace import Workspace

log = logging.getLogger(__name__)

IMAGE_BATCH = 8
"""Assets per batch: their images are decoded and analyzed together."""
BATCH_PIXELS = 40_000_000
"""A batch is analyzed early once its decoded images hold this many pixels (memory bound)."""

DECODE_ERRORS = (ImageDecodeError, VideoDecodeError, MediaStoreError, FileNotFoundError,
                 OSError)


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


def run_signature(analyzer: Analyzer, *, every_s: float) -> q.RunSignature:
    """The run signature of an analyzer and the job's parameters."""
    info = analyzer.classifier.info
    params = dict(analyzer.parameters)
    params["every_s"] = float(every_s)
    return q.RunSignature(model_name=info.name, model_version=info.version,
                          weights_sha256=info.weights_sha256 or "",
                          detector=analyzer.detector.info.label, parameters=params)


def _settings(ws: Workspace, model: str | None) -> tuple[str | None, str | None]:
    """``(model or the Settings page's model, the Settings page's uncertainty threshold)``."""
    with ws.session() as session:
        chosen = model or get_setting(session=session, key=SettingKey.DEFAULT_MODEL)
        threshold = get_setting(session=session, key=SettingKey.UNCERTAINTY_THRESHOLD)
    return chosen, threshold


def workspace_analyzer(ws: Workspace, *, model: str | None = None) -> Analyzer:
    """The analyzer the workspace's settings ask for.

    ``model`` wins; else the default model chosen on the Settings page (or activated by
    fine-tuning), else ``BRANDMOOD_MODEL`` or the registry default. The Settings page's
    uncertainty threshold replaces the default rule's minimum confidence.
    """
    chosen, threshold = _settings(ws, model)
    base = default_analyzer(chosen)
    if threshold is None or float(threshold) == base.rule.min_confidence:
        return base
    rule = UncertaintyRule(min_confidence=float(threshold), min_margin=base.rule.min_margin)
    return Analyzer(base.detector, base.classifier, rule, video_max_side=base.video_max_side)


AnalyzerFactory = Callable[..., Analyzer]
"""Builds the job's analyzer: ``factory(ws, model=model)``, like :func:`workspace_analyzer`."""


def run_analysis(ws: Workspace, *, model: str | None = None,
                 asset_ids: list[int] | None = None, every_s: float = 1.0,
                 progress: Progress | None = None, new_run: bool = False,
                 analyzer: Analyzer | None = None,
                 make_analyzer: AnalyzerFactory = workspace_analyzer) -> AnalysisSummary:
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
        analyzer: use this analyzer instead of building one (``model`` is then ignored).
        make_analyzer: builds the analyzer, called only when there is work (or when the
            run signature of these settings is not remembered yet).

    Returns:
        What the job did.

    Raises:
        ValueError: if ``every_s`` is not positive.
        db.queries.core.NotFoundError: if a given asset id does not exist.
    """
    if not every_s > 0:
        raise ValueError(f"every_s must be positive, got {every_s}")
    started = time.perf_counter()
    if analyzer is None:
        memo = _SignatureMemo(ws, model, every_s, make_analyzer)
        if asset_ids is None and not new_run:
            idle = _idle_summary(ws, memo.recall(), started)
            if idle is not None:
                return idle
        elif asset_ids is not None:  # unknown ids fail before any model loads
            with ws.session() as session:
                q.assets_to_analyze(session=session, run_id=0, asset_ids=asset_ids)
        analyzer = make_analyzer(ws, model=model)
        memo.remember(analyzer)
    signature = run_signature(analyzer, every_s=every_s)
    with ws.sessions.begin() as session:
        run, resumed = q.start_run(session=session, signature=signature, new_run=new_run)
        todo = q.assets_to_analyze(session=session, run_id=run.id, asset_ids=asset_ids)
        done_before = q.count_done(session=session, run_id=run.id)
        run_id = run.id
    summary = AnalysisSummary(run_id=run_id, model=analyzer.classifier.info.label,
                              resumed=resumed, skipped=done_before if asset_ids is None else 0,
                              models_loaded=True)
    job = _Job(ws, analyzer, run_id, every_s, summary, progress, total=len(todo))
    before = analyzer.timings.to_json()
    try:
        for start in range(0, len(todo), IMAGE_BATCH):
            job.process(todo[start:start + IMAGE_BATCH])
    except BaseException:
        _close(ws, run_id, analyzer, before, started, RunStatus.RUNNING)
        raise
    summary.timings = _close(ws, run_id, analyzer, before, started, RunStatus.DONE)
    return summary


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
    return AnalysisSummary(run_id=run_id, model=f"{signature.model_name}@"
                           f"{signature.model_version}", resumed=resumed, skipped=skipped,
                           timings=timings, models_loaded=False)


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
    for path in files:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    try:
        h.update(version("facenet-pytorch").encode())
    except PackageNotFoundError:
        h.update(b"no facenet-pytorch")
    return h.hexdigest()


def _close(ws: Workspace, run_id: int, analyzer: Analyzer, before: dict[str, float],
           started: float, status: RunStatus) -> dict[str, float]:
    after = analyzer.timings.to_json()
    timings = {k: round(after[k] - before.get(k, 0.0), 4) for k in after}
    timings["total_s"] = round(time.perf_counter() - started, 4)
    try:
        with ws.sessions.begin() as session:
            q.finish_run(session=session, run_id=run_id, timings=timings, status=status)
    except Exception:  # never hide the error that stopped the job
        if status is RunStatus.DONE:
            raise
        log.exception("could not record the interrupted run %s", run_id)
    return timings


class _Job:
    """The per-batch work of one :func:`run_analysis` call."""

    def __init__(self, ws: Workspace, analyzer: Analyzer, run_id: int, every_s: float,
                 summary: AnalysisSummary, progress: Progress | None, total: int) -> None:
        self.ws, self.analyzer, self.run_id, self.every_s = ws, analyzer, run_id, every_s
        self.summary, self.total = summary, total
        self.progress = safe_progress(progress, job="analysis")

    def process(self, ids: Sequence[int]) -> None:
        """Analyze one batch of assets: images together, then videos one by one."""
        with self.ws.session() as session:
            assets = [session.get(Asset, i) for i in ids]
            snapshot = [(a.id, a.kind, a.media_path) for a in assets if a is not None]
        images, videos = [], []
        for asset_id, kind, relpath in snapshot:
            (videos if kind is AssetKind.VIDEO else images).append((asset_id, relpath))
        self._images(images)
        for asset_id, relpath in videos:
            self._video(asset_id, relpath)

    def _path(self, relpath: str) -> Path:
        path = self.ws.media.path(relpath)
        if not path.exists():
            raise FileNotFoundError(f"media file missing from the store: {relpath}")
        return path

    def _images(self, items: list[tuple[int, str]]) -> None:
        """Decode images and analyze them together, at most BATCH_PIXELS at a time.

        Decoding runs one batch ahead in a background thread (Pillow releases the GIL), so
        the next images are ready when the analyzer finishes the current ones.
        """
        decoded: list[tuple[int, np.ndarray, float]] = []
        pixels = 0
        for asset_id, image, error, seconds in prefetch(self._decode(items), IMAGE_BATCH):
            if error is not None:
                self._fail(asset_id, _reason(error), seconds)
                continue
            self.analyzer.timings.decode_s += seconds
            decoded.append((asset_id, image, seconds))
            pixels += image.shape[0] * image.shape[1]
            if pixels >= BATCH_PIXELS:
                self._analyze_decoded(decoded)
                decoded, pixels = [], 0
        self._analyze_decoded(decoded)

    def _decode(self, items: list[tuple[int, str]]
                ) -> Iterator[tuple[int, np.ndarray | None, Exception | None, float]]:
        """``(asset id, image or None, decoding error or None, seconds)`` per item."""
        for asset_id, relpath in items:
            t = time.perf_counter()
            try:
                image = load_image(self._path(relpath))
            except DECODE_ERRORS as exc:
                yield asset_id, None, exc, time.perf_counter() - t
                continue
            yield asset_id, image, None, time.perf_counter() - t

    def _analyze_decoded(self, decoded: list[tuple[int, np.ndarray, float]]) -> None:
        if not decoded:
            return
        t = time.perf_counter()
        try:
            results = self.analyzer.analyze_images([img for _, img, _ in decoded])
        except Exception:  # find the one bad image, the others go on
            log.exception("batch analysis failed; retrying image by image")
            for item in decoded:
                self._image_alone(*item)
            return
        share = (time.perf_counter() - t) / len(decoded)
        for (asset_id, _img, dt), faces in zip(decoded, results, strict=True):
            self._store_image(asset_id, faces, dt + share)

    def _image_alone(self, asset_id: int, image: np.ndarray, seconds: float) -> None:
        t = time.perf_counter()
        try:
            faces = self.analyzer.analyze_images([image])[0]
        except Exception as exc:  # this asset fails with the reason
            log.exception("analysis of asset %s failed", asset_id)
            self._fail(asset_id, f"analysis error: {type(exc).__name__}: {_reason(exc)}",
                       seconds + time.perf_counter() - t)
            return
        self._store_image(asset_id, faces, seconds + time.perf_counter() - t)

    def _store_image(self, asset_id: int, faces: FaceDetections, seconds: float) -> None:
        summary = {"kind": "image", "n_faces": len(faces),
                   "uncertain": int(faces.uncertain.sum())}
        self._store(asset_id, [(0, faces)], summary, seconds)

    def _video(self, asset_id: int, relpath: str) -> None:
        t = time.perf_counter()
        try:
            result = self.analyzer.analyze_video(self._path(relpath), every_s=self.every_s)
        except DECODE_ERRORS as exc:
            self._fail(asset_id, _reason(exc), time.perf_counter() - t)
            return
        except Exception as exc:  # e.g. a decoder error mid-stream
            log.exception("analysis of video asset %s failed", asset_id)
            self._fail(asset_id, f"analysis error: {type(exc).__name__}: {_reason(exc)}",
                       time.perf_counter() - t)
            return
        summary = result.summary.to_json()
        summary.update(kind="video", duration_s=result.info.duration_s, fps=result.info.fps,
                       rotation=result.info.rotation, bad_packets=result.decode.bad_packets)
        frames = [(f.timestamp_ms, f.faces) for f in result.frames]
        self._store(asset_id, frames, summary, time.perf_counter() - t)

    def _store(self, asset_id: int, frames: list, summary: dict, seconds: float) -> None:
        try:
            with self.ws.sessions.begin() as session:
                asset = session.get(Asset, asset_id)
                if asset is None:  # deleted while the job ran
                    return
                n = q.write_asset_result(session=session, run_id=self.run_id, asset=asset,
                                         frames=frames, summary=summary, seconds=seconds,
                                         ita=[f.extra.get(ITA_KEY) for _, f in frames])
        except IntegrityError:  # a concurrent job of the same run stored it first
            log.warning("asset %s was stored by another job of run %s", asset_id, self.run_id)
            return
        self._done(AssetOutcome(asset_id, AssetStatus.ANALYZED, n_faces=n))

    def _fail(self, asset_id: int, reason: str, seconds: float) -> None:
        try:
            with self.ws.sessions.begin() as session:
                asset = session.get(Asset, asset_id)
                if asset is None:
                    return
                q.write_asset_failure(session=session, run_id=self.run_id, asset=asset,
                                      reason=reason, seconds=seconds)
        except IntegrityError:
            log.warning("asset %s was stored by another job of run %s", asset_id, self.run_id)
            return
        self._done(AssetOutcome(asset_id, AssetStatus.FAILED, reason=reason))

    def _done(self, outcome: AssetOutcome) -> None:
        self.summary.items.append(outcome)
        word = "failed" if outcome.status is AssetStatus.FAILED else f"{outcome.n_faces} faces"
        self.progress(len(self.summary.items), self.total, f"asset {outcome.asset_id}: {word}")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
