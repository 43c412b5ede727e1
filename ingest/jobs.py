"""Ingest jobs: a source's candidates → downloads and checks in a thread pool → store.

Worker threads download (or copy) each candidate into the job's scratch folder while
hashing it, and probe it; the calling thread alone writes to the database, one short
transaction per item, so every candidate ends as exactly one outcome row. Sources
already stored for the brand (same URL or post id) are not fetched again, which makes
re-ingesting a feed fetch only what is new and a killed job resumable.

:func:`run_source` is the one entry point: give it any :class:`~ingest.base.Source`
(built directly, or by name with :func:`ingest.sources.build_source`). Progress goes
through :class:`~brandmood.core.progress.SafeProgress`: a reporter that fails or is slow
never fails an item.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from brandmood.core.progress import ByteProgress, Progress, safe_progress
from db.models import Outcome, RunStatus
from db.queries import core
from db.queries import ingest as q
from db.workspace import Workspace
from ingest.base import Candidate, Source, SourceContext, SourceError
from ingest.media import MediaError, probe
from ingest.net import DEFAULT_WORKERS, BlockedURLError, Fetcher, FetchError, UrlGuard
from ingest.store import NEAR_DUPLICATE_BITS, Bookkeeper, ItemOutcome, Prepared, with_retries

_CHUNK = 1 << 20


@dataclass
class IngestSummary:
    """Counts and one outcome per candidate of an ingest job."""

    source: str
    run_id: int | None = None
    dry_run: bool = False
    error: str | None = None
    bytes: int = 0
    items: list[ItemOutcome] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(i.outcome is Outcome.STORED for i in self.items)

    @property
    def duplicate(self) -> int:
        return sum(i.outcome is Outcome.DUPLICATE for i in self.items)

    @property
    def failed(self) -> int:
        return sum(i.outcome is Outcome.FAILED for i in self.items)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: ``{"stored", "duplicate", "failed", "items": [...]}`` and more."""
        return {"stored": self.stored, "duplicate": self.duplicate, "failed": self.failed,
                "items": [{"source": i.source, "outcome": i.outcome.value, "reason": i.reason,
                           "asset_id": i.asset_id} for i in self.items],
                "run_id": self.run_id, "dry_run": self.dry_run, "error": self.error,
                "bytes": self.bytes}


@dataclass
class JobOptions:
    """How a job runs (the defaults suit the CLI).

    Attributes:
        progress: told ``(done, total, "outcome: source")`` after each candidate.
        on_bytes: told the bytes of each block downloaded or copied (worker threads).
    """

    workers: int = DEFAULT_WORKERS
    dry_run: bool = False
    progress: Progress | None = None
    on_bytes: ByteProgress | None = None
    fetcher: Fetcher | None = None
    near_bits: int = NEAR_DUPLICATE_BITS


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_scratch(ws: Workspace) -> list[int]:
    """Remove scratch folders of ingest jobs whose process is gone (``kill -9``).

    Their runs, still marked running, are marked failed.

    Returns:
        The ids of those runs.
    """
    tmp = ws.media.scratch_dir()
    dead: list[int] = []
    for d in tmp.glob("job-*") if tmp.is_dir() else []:
        _, pid, run = [*d.name.split("-"), "", ""][:3]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
            if run.isdigit():
                dead.append(int(run))
    if dead:
        with_retries(ws, lambda s: q.fail_running_runs(s, run_ids=dead))
    return dead


@contextmanager
def _scratch(ws: Workspace, tag: str) -> Iterator[Path]:
    """The job's scratch folder ``.tmp/job-<pid>-<run id or "dry">-<random>``."""
    clean_stale_scratch(ws)
    path = ws.media.scratch_dir() / f"job-{os.getpid()}-{tag}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _copy_hashing(src: Path, folder: Path) -> tuple[Path, str, int]:
    h, size = hashlib.sha256(), 0
    dest = folder / f"cp-{uuid.uuid4().hex}"
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while block := fin.read(_CHUNK):
            fout.write(block)
            h.update(block)
            size += len(block)
    return dest, h.hexdigest(), size


def _prepare(c: Candidate, scratch: Path, fetcher: Fetcher,
             on_bytes: ByteProgress | None) -> Prepared | ItemOutcome:
    """Download/copy and probe one candidate (runs in a worker thread; never raises)."""
    tmp: Path | None = None
    try:
        if c.url is not None:
            dl = fetcher.download(c.url, scratch, on_bytes=on_bytes)
            tmp, sha, size = dl.path, dl.sha256, dl.size
        else:
            tmp, sha, size = _copy_hashing(Path(c.path), scratch)
            if on_bytes:
                on_bytes(size)
        return Prepared(c, tmp, sha, size, probe(tmp))
    except (MediaError, BlockedURLError, FetchError) as exc:
        reason = str(exc)
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
    except Exception as exc:  # one bad item must not stop the job
        reason = f"{type(exc).__name__}: {exc}"
    if tmp is not None:
        tmp.unlink(missing_ok=True)
    return ItemOutcome(c.source, Outcome.FAILED, reason)


def _unique_sources(cands: list[Candidate]) -> list[Candidate]:
    seen: dict[str, int] = {}
    out = []
    for c in cands:
        n = seen.get(c.source, 0) + 1
        seen[c.source] = n
        out.append(c if n == 1 else replace(c, source=f"{c.source} #{n}"))
    return out


def _list(source: Source, ctx: SourceContext, summary: IngestSummary) -> list[Candidate]:
    cands: list[Candidate] = []
    try:
        for c in source.candidates(ctx):
            cands.append(c)
    except (SourceError, FetchError, BlockedURLError) as exc:
        summary.error = str(exc)
    return _unique_sources(cands)


def _dry_outcome(c: Candidate, known: dict[str, int], ws: Workspace, brand_id: int | None,
                 scratch: Path, fetcher: Fetcher) -> ItemOutcome:
    if c.error:
        return ItemOutcome(c.source, Outcome.FAILED, c.error)
    if c.source in known:
        return ItemOutcome(c.source, Outcome.DUPLICATE, "already ingested", known[c.source])
    if c.url is not None:
        return ItemOutcome(c.source, Outcome.STORED, "dry run: would download")
    prep = _prepare(c, scratch, fetcher, None)
    if isinstance(prep, ItemOutcome):
        return prep
    prep.tmp.unlink(missing_ok=True)
    asset = None if brand_id is None else with_retries(
        ws, lambda s: q.asset_by_sha(s, brand_id=brand_id, sha256=prep.sha256))
    if asset is not None:
        return ItemOutcome(c.source, Outcome.DUPLICATE, "dry run: same content as "
                           f"asset {asset.id}", asset.id)
    return ItemOutcome(c.source, Outcome.STORED, "dry run: would store")


class _Runner:
    """One job: lists candidates, fans downloads out, records outcomes in order done."""

    def __init__(self, ws: Workspace, source: Source, brand: str, opts: JobOptions) -> None:
        self.ws, self.source, self.brand, self.opts = ws, source, brand, opts
        self.summary = IngestSummary(source=source.label, dry_run=opts.dry_run)
        self.fetcher = opts.fetcher or Fetcher(UrlGuard.from_env(), pool_size=opts.workers)
        self.total = 0
        self._bytes_lock = threading.Lock()
        self.report = safe_progress(opts.progress, opts.on_bytes, job="ingest")

    def _bytes(self, n: int) -> None:  # called from worker threads
        with self._bytes_lock:
            self.summary.bytes += n
        self.report.bytes(n)

    def _done(self, item: ItemOutcome) -> None:
        self.summary.items.append(item)
        self.report(len(self.summary.items), self.total, f"{item.outcome.value}: {item.source}")

    def run(self) -> IngestSummary:
        if self.opts.dry_run:
            with _scratch(self.ws, "dry") as scratch:
                return self._dry(SourceContext(scratch=scratch, fetcher=self.fetcher))
        brand_id = with_retries(
            self.ws, lambda s: core.get_or_create_brand(s, name=self.brand).id,
            on_integrity=lambda s: core.get_brand(s, name=self.brand).id)
        run_id = with_retries(self.ws, lambda s: q.create_run(
            s, brand_id=brand_id, source_kind=self.source.kind, source=self.source.label).id)
        self.summary.run_id = run_id
        status = RunStatus.FAILED
        try:
            with _scratch(self.ws, str(run_id)) as scratch:
                self._ingest(SourceContext(scratch=scratch, fetcher=self.fetcher),
                             brand_id, run_id)
            status = RunStatus.FAILED if self.summary.error else RunStatus.DONE
        finally:
            with_retries(self.ws, lambda s: q.finish_run(s, run_id=run_id, status=status))
        return self.summary

    def _dry(self, ctx: SourceContext) -> IngestSummary:
        cands = _list(self.source, ctx, self.summary)
        self.total = len(cands)
        with self.ws.session() as s:
            brand_id = q.brand_id_by_name(s, name=self.brand)
            known = q.known_sources(s, brand_id=brand_id, sources=[c.source for c in cands]) \
                if brand_id else {}
        for c in cands:
            self._done(_dry_outcome(c, known, self.ws, brand_id, ctx.scratch, self.fetcher))
        return self.summary

    def _ingest(self, ctx: SourceContext, brand_id: int, run_id: int) -> None:
        cands = _list(self.source, ctx, self.summary)
        self.total = len(cands)
        order = {c.source: n for n, c in enumerate(cands)}
        try:
            self._process(ctx, cands, brand_id, run_id)
        finally:  # report in source order, whatever order the downloads finished in
            self.summary.items.sort(key=lambda i: order.get(i.source, len(order)))

    def _process(self, ctx: SourceContext, cands: list[Candidate], brand_id: int,
                 run_id: int) -> None:
        books = Bookkeeper(self.ws, brand_id=brand_id, run_id=run_id,
                           near_bits=self.opts.near_bits)
        known = with_retries(self.ws, lambda s: q.known_sources(
            s, brand_id=brand_id, sources=[c.source for c in cands if c.url]))
        # Outcomes are recorded in source order (the first post of some content is the
        # one stored, the later ones are its duplicates, whatever finished first);
        # the window keeps every worker busy meanwhile.
        window = max(4 * self.opts.workers, 1)
        queue: deque[Future | ItemOutcome] = deque()
        with ThreadPoolExecutor(max_workers=max(self.opts.workers, 1),
                                thread_name_prefix="ingest") as pool:
            for c in cands:
                if c.error:
                    queue.append(ItemOutcome(c.source, Outcome.FAILED, c.error))
                elif c.url and c.source in known:
                    queue.append(ItemOutcome(c.source, Outcome.DUPLICATE, "already ingested",
                                             known[c.source]))
                else:
                    queue.append(pool.submit(_prepare, c, ctx.scratch, self.fetcher,
                                             self._bytes))
                while len(queue) >= window:
                    self._record(queue.popleft(), books)
            while queue:
                self._record(queue.popleft(), books)

    def _record(self, entry: Future | ItemOutcome, books: Bookkeeper) -> None:
        result = entry.result() if isinstance(entry, Future) else entry
        if isinstance(result, ItemOutcome):
            self._done(books.record(result.source, result.outcome, result.reason,
                                    result.asset_id))
        else:
            self._done(books.record_prepared(result))


def run_source(ws: Workspace, source: Source, *, brand: str,
               opts: JobOptions | None = None) -> IngestSummary:
    """Ingest everything ``source`` yields for ``brand`` (created if missing).

    Every candidate ends as exactly one outcome (stored, duplicate or failed with a
    reason); a source that cannot be read at all sets ``summary.error``.

    Raises:
        ValueError: for an empty brand name.
    """
    if not brand or not brand.strip():
        raise ValueError("brand name must not be empty")
    opts = opts or JobOptions()
    runner = _Runner(ws, source, brand.strip(), opts)
    try:
        return runner.run()
    finally:
        if opts.fetcher is None:
            runner.fetcher.close()
