"""Uploads and re-analyses from the dashboard: stored at once, analyzed by a queued job.

An upload is stored (ingested into the media store and the database) during the click,
so nothing is lost if no worker runs; its analysis is a queued job that a worker
(``brandmood worker``; ``brandmood serve`` starts one) runs. The page returns at once and
polls the job's row (a fragment that reruns every :data:`POLL_S` seconds while the job is
queued or running); the user can leave and come back, and the Jobs page lists every job.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from brandmood.core.access import Permission
from brandmood.core.audit import AuditAction
from brandmood.core.progress import Progress
from brandmood.core.settings import load_config
from brandmood.services import audit
from brandmood.services.jobs import enqueue_analysis, enqueue_reanalysis
from brandmood.services.uploads import UploadLimits, UploadRefused, check_uploads
from brandmood.services.worker import LIVE_WITHIN_S
from brandmood.ui import asset_views, auth
from brandmood.ui.data import workspace
from db.models import JobKind, JobStatus
from db.queries import dashboard_jobs as dj
from db.queries import jobs as jq
from db.queries.core import get_or_create_brand
from db.queries.ingest import brand_id_by_name
from ingest.base import PostMetadata
from ingest.files import FileSource
from ingest.jobs import JobOptions, run_source

POLL_S = 1.0
"""How often a page showing an unfinished job reads its progress again."""
NO_WORKER = ("No worker is running, so queued jobs wait. Start one with `brandmood worker` "
             "(`make run` and `brandmood serve` start one beside the dashboard).")


@dataclass
class UploadOutcome:
    """What an upload ended with: stored asset ids, refused files with reasons, its job."""

    stored: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    job_id: int | None = None


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 file"``, ``"2 files"``: ``n`` with the noun in the right number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def progress_callback(bar, prefix: str) -> Progress:
    """A ``(done, total, message)`` reporter that moves a Streamlit progress bar."""
    def report(done: int, total: int, message: str) -> None:
        frac = min(1.0, done / total) if total else 0.0
        bar.progress(frac, text=f"{prefix}: {done}/{total} {message}"[:200])
    return report


def save_uploads(files: Sequence, folder: Path) -> dict[Path, str]:
    """Write uploaded files (name + bytes) into ``folder``.

    Returns:
        Each written file → the name the user gave it (the files on disk get safe,
        unique names; outcomes and the store show the user's).
    """
    saved: dict[Path, str] = {}
    for i, f in enumerate(files):
        name = Path(f.name).name or f"upload-{i + 1}"
        dest = folder / f"{i:03d}-{name.replace('/', '_')}"
        dest.write_bytes(f.getvalue())
        saved[dest] = name
    return saved


def who() -> str:
    """Who queues a job from this session: the signed-in user's e-mail, else "dashboard"."""
    try:
        if st.user.is_logged_in:
            return str(st.user.get("email") or st.user.get("name") or "dashboard")
    except Exception:  # no sign-in configured
        pass
    return "dashboard"


def check_limits(files: Sequence, *, brand: str) -> dict[int, str]:
    """Refuse (and record) an upload that breaks the settings' count or size limits;
    returns the files refused for their type by content (index → reason)."""
    try:
        return check_uploads([(Path(f.name).name, f.getvalue()) for f in files],
                             UploadLimits.of(load_config()))
    except UploadRefused as exc:
        _record_refusal(brand, str(exc), len(files))
        raise


def _record_refusal(brand: str, reason: str, files: int) -> None:
    with workspace().sessions.begin() as s:
        audit.record(s, auth.principal(), AuditAction.UPLOAD,
                     brand_id=brand_id_by_name(s, name=brand.strip()),
                     details={"refused": reason[:300], "files": files})


def store_and_enqueue(files: Sequence, *, brand: str, campaign: str | None,
                      channel: str | None, ambassador: str | None,
                      model: str | None) -> UploadOutcome:
    """Store uploaded files (progress bar), then queue their analysis; returns at once.

    Raises:
        ValueError: for a malformed channel (``platform:handle``) or an empty brand.
        UploadRefused: the upload breaks a limit (count, size, a type by content); the
            refusal is recorded in the audit trail.
    """
    meta = PostMetadata.assigned(campaign=campaign, channel=channel, ambassador=ambassador)
    ws = workspace()
    bad = check_limits(files, brand=brand)
    out = UploadOutcome(refused=[(Path(files[i].name).name, reason)
                                 for i, reason in bad.items()])
    files = [f for i, f in enumerate(files) if i not in bad]
    if not files:
        _record_refusal(brand, "no file of an allowed type", len(bad))
        return out
    with tempfile.TemporaryDirectory(prefix="bm-upload-") as tmp:
        saved = save_uploads(files, Path(tmp))
        bar = st.progress(0.0, text="Storing files…")
        summary = run_source(ws, FileSource(list(saved), meta=meta, names=saved), brand=brand,
                             opts=JobOptions(progress=progress_callback(bar, "Storing")))
    for item in summary.items:
        if item.outcome.value == "stored" and item.asset_id is not None:
            out.stored.append(item.asset_id)
        elif item.outcome.value == "duplicate":
            out.duplicates.append(item.source)
            if item.asset_id is not None:
                out.stored.append(item.asset_id)
        elif item.outcome.value == "failed":
            out.refused.append((item.source, item.reason or "refused"))
    if out.stored:
        details = {"files": len(saved), "stored": len(set(out.stored)),
                   "duplicates": out.duplicates, "refused": [list(r) for r in out.refused],
                   "ingest_run_id": summary.run_id}
        with ws.sessions.begin() as s:
            brand_id = get_or_create_brand(s, name=brand).id
            out.job_id = enqueue_analysis(session=s, kind=JobKind.UPLOAD, asset_ids=out.stored,
                                          brand_id=brand_id, model=model, enqueued_by=who(),
                                          details=details, actor=auth.principal())
    return out


def get_job(job_id: int) -> jq.JobView:
    with workspace().session() as s:
        return jq.get_job(session=s, job_id=job_id, scope=auth.scope(Permission.UPLOAD))


def workers_alive() -> list[jq.WorkerView]:
    with workspace().session() as s:
        return jq.live_workers(session=s, within_s=LIVE_WITHIN_S)


def job_progress(job: jq.JobView) -> None:
    """A queued or running job: its progress bar, and a warning when no worker is alive."""
    if job.status is JobStatus.QUEUED:
        text = f"Job #{job.id} is queued: waiting for a worker…"
        if job.done:
            text += f" ({job.done}/{job.total} done before it was given back)"
    else:
        text = f"Job #{job.id}: analyzing {job.done}/{job.total} {job.message}".strip()
    st.progress(job.fraction, text=text[:200])
    if not workers_alive():
        st.warning(NO_WORKER)


def upload_status(outcome: UploadOutcome, *, use_reviews: bool) -> None:
    """An upload's refusals, then its job: progress while it runs, faces when it is done."""
    for name, reason in outcome.refused:
        st.error(f"Refused {name}: {reason}")
    if outcome.job_id is None:
        st.info("No file was stored, so there is nothing to analyze.")
        return
    job = get_job(outcome.job_id)
    if job.active:
        st.fragment(run_every=POLL_S)(_poll_upload)(outcome.job_id)
        return
    if job.status is JobStatus.FAILED:
        st.error(f"Analysis failed: {job.error}")
    else:
        stored = count(len(set(outcome.stored)), "file")
        dups = f", {len(outcome.duplicates)} already known" if outcome.duplicates else ""
        st.success(f"{stored} stored and analyzed{dups}")
    for asset_id in sorted(set(outcome.stored)):
        asset_views.detail(asset_id, use_reviews=use_reviews)


def _poll_upload(job_id: int) -> None:
    job = get_job(job_id)
    if not job.active:
        st.rerun()  # the whole page: the finished job's faces
    job_progress(job)
    st.caption("You can leave this page: the job goes on, and its faces show here (and on "
               "**Jobs**) when it is done.")


def result_text(job: jq.JobView) -> str:
    """One cell about a job's outcome."""
    if job.status is JobStatus.FAILED:
        return job.error or "failed"
    r = job.result or {}
    if job.status is JobStatus.DONE:
        return (f"{r.get('analyzed', 0)} analyzed, {r.get('failed', 0)} failed, "
                f"{count(int(r.get('faces', 0)), 'face')}")
    return job.message


def queue_table(jobs: Sequence[jq.JobView]) -> None:
    """The jobs with status, progress and result."""
    st.dataframe([{"job": j.id, "kind": j.kind.value, "brand": j.brand or "",
                   "status": j.status.value, "progress": f"{j.done}/{j.total}",
                   "result": result_text(j), "attempts": j.attempts,
                   "worker": j.claimed_by or "", "queued by": j.enqueued_by or "",
                   "queued": j.created_at, "finished": j.finished_at} for j in jobs],
                 hide_index=True)


def queue_view() -> None:
    """The job queue (polled while a job is unfinished) and the workers that run it."""
    st.subheader("Queue")
    with workspace().session() as s:
        jobs = jq.list_jobs(session=s, scope=auth.scope(Permission.INGEST), limit=50)
    if any(j.active for j in jobs):
        st.fragment(run_every=POLL_S)(_poll_queue)()
    else:
        _queue(jobs)


def _poll_queue() -> None:
    with workspace().session() as s:
        jobs = jq.list_jobs(session=s, scope=auth.scope(Permission.INGEST), limit=50)
    if not any(j.active for j in jobs):
        st.rerun()  # the runs below changed too
    _queue(jobs)


def _queue(jobs: Sequence[jq.JobView]) -> None:
    workers = workers_alive()
    if workers:
        st.caption(f"{count(len(workers), 'worker')} running: "
                   + ", ".join(f"{w.name}" + (f" (job #{w.job_id})" if w.job_id else "")
                               for w in workers))
    elif any(j.status is JobStatus.QUEUED for j in jobs):
        st.warning(NO_WORKER)
    else:
        st.caption("No worker is running.")
    for j in jobs:
        if j.status is JobStatus.RUNNING:
            st.progress(j.fraction, text=f"Job #{j.id} ({j.kind.value}): {j.done}/{j.total} "
                        f"{j.message}"[:200])
    if jobs:
        queue_table(jobs)
    else:
        st.info("No job yet. Uploads and re-analyses are queued here.")


def queue_reanalysis(asset_ids: list[int]) -> str:
    """Put failed assets back to pending and queue their analysis; one-line outcome."""
    with workspace().sessions.begin() as s:
        job_id, ids = enqueue_reanalysis(session=s, asset_ids=asset_ids,
                                         scope=auth.scope(Permission.INGEST),
                                         enqueued_by=who(), actor=auth.principal())
    if job_id is None:
        return "Nothing to retry."
    return f"Queued job #{job_id}: {count(len(ids), 'asset')} to analyze again."


def queue_pending_analysis() -> str:
    """Queue the analysis of every asset the current model has not analyzed; one line."""
    with workspace().sessions.begin() as s:
        job_id = enqueue_analysis(session=s, kind=JobKind.ANALYZE, asset_ids=None,
                                  enqueued_by=who(), actor=auth.principal())
    return f"Queued job #{job_id}: every asset not yet analyzed with the current model."


def retry_ingest(run_id: int) -> str:
    """Ingest again the failed local files of an ingest run and queue the analysis of what
    was stored; returns a one-line outcome."""
    ws = workspace()
    with ws.session() as s:
        brand, paths = dj.retryable_ingest_sources(session=s, run_id=run_id,
                                                   scope=auth.scope(Permission.INGEST))
    if not paths:
        return "No failed local file of this run still exists to retry."
    bar = st.progress(0.0, text="Ingesting again…")
    summary = run_source(ws, FileSource(list(paths)), brand=brand,
                         opts=JobOptions(progress=progress_callback(bar, "Storing")))
    stored = [i.asset_id for i in summary.items
              if i.outcome.value == "stored" and i.asset_id is not None]
    queued = ""
    if stored:
        with ws.sessions.begin() as s:
            job_id = enqueue_analysis(session=s, kind=JobKind.ANALYZE, asset_ids=stored,
                                      brand_id=get_or_create_brand(s, name=brand).id,
                                      enqueued_by=who(), actor=auth.principal())
        queued = f"; queued job #{job_id} to analyze them"
    return (f"Retried {count(len(paths), 'file')}: {summary.stored} stored, "
            f"{summary.failed} failed{queued}.")


def _flash(message: str) -> None:
    """Show ``message`` after a rerun (the queue above must list the new job)."""
    st.session_state["jobs_flash"] = message
    st.rerun()


def jobs_view() -> None:
    """The queue, ingest and analysis runs with counts, failures with reasons, and retries."""
    flash = st.session_state.pop("jobs_flash", None)
    if flash:
        st.success(flash)
    queue_view()
    scope = auth.scope(Permission.INGEST)
    with auth.session(Permission.INGEST) as s:
        ingests = dj.ingest_runs(session=s, scope=scope)
        runs = dj.analysis_runs(session=s, scope=scope)
        ifail = dj.ingest_failures(session=s, scope=scope)
        afail = dj.analysis_failures(session=s, scope=scope)
    _ingest_section(ingests, ifail)
    _analysis_section(runs, afail)


def _ingest_section(ingests, ifail) -> None:
    st.subheader("Ingest runs")
    if ingests:
        st.dataframe([{"run": r.run_id, "brand": r.brand, "source": f"{r.source_kind}: "
                       f"{r.source}", "status": r.status.value, "stored": r.stored,
                       "duplicate": r.duplicate, "failed": r.failed, "started": r.started_at}
                      for r in ingests], hide_index=True)
    else:
        st.info("No ingest run yet. Add files on **Upload** or run `brandmood ingest`.")
    if ifail:
        st.markdown("**Refused files**")
        st.dataframe([{"run": f.run_id, "source": f.source, "reason": f.reason} for f in ifail],
                     hide_index=True)
        run_ids = sorted({f.run_id for f in ifail if f.run_id is not None}, reverse=True)
        rid = st.selectbox("Ingest run to retry", run_ids, key="retry_ingest_run")
        if st.button("Retry its failed files", key="retry_ingest"):
            _flash(retry_ingest(int(rid)))


def _analysis_section(runs, afail) -> None:
    st.subheader("Analysis runs")
    if runs:
        st.dataframe([{"run": r.run_id, "model": r.model, "status": r.status.value,
                       "assets": r.assets, "faces": r.faces, "failed": r.failed,
                       "started": r.started_at, "finished": r.finished_at} for r in runs],
                     hide_index=True)
    else:
        st.info("No analysis run yet. Upload files, or run `brandmood analyze`.")
    # every brand's pending assets: a workspace-wide action (owners, the local admin)
    if auth.principal().can(Permission.INGEST) and st.button(
            "Analyze every asset not yet analyzed with the current model",
            key="analyze_pending"):
        _flash(queue_pending_analysis())
    if afail:
        st.markdown("**Assets whose analysis failed**")
        st.dataframe([{"asset": f.asset_id, "source": f.source, "reason": f.reason}
                      for f in afail], hide_index=True)
        if st.button(f"Retry {count(len(afail), 'failed analysis', 'failed analyses')}",
                     key="retry_analysis"):
            _flash(queue_reanalysis([f.asset_id for f in afail if f.asset_id is not None]))
