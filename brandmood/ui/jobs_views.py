"""Running ingest and analysis from the dashboard with a live progress bar."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from brandmood.core.access import Permission
from brandmood.core.progress import Progress
from brandmood.ui import auth
from brandmood.ui.data import workspace
from ingest.base import PostMetadata
from ingest.files import FileSource
from ingest.jobs import JobOptions, run_source


@dataclass
class UploadOutcome:
    """What an upload ended with: stored asset ids, refused files with reasons, faces."""

    stored: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    analysis_error: str | None = None


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


def ingest_and_analyze(files: Sequence, *, brand: str, campaign: str | None,
                       channel: str | None, ambassador: str | None,
                       model: str | None) -> UploadOutcome:
    """Ingest uploaded files, then analyze what was stored, with live progress bars.

    Raises:
        ValueError: for a malformed channel (``platform:handle``) or an empty brand.
    """
    from brandmood.services.analyze import run_analysis  # loads torch: only when used

    meta = PostMetadata.assigned(campaign=campaign, channel=channel, ambassador=ambassador)
    ws = workspace()
    out = UploadOutcome()
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
        bar2 = st.progress(0.0, text="Analyzing…")
        try:
            run_analysis(ws, model=model, asset_ids=sorted(set(out.stored)),
                         progress=progress_callback(bar2, "Analyzing"))
        except Exception as exc:
            out.analysis_error = f"{type(exc).__name__}: {exc}"
    return out


def retry_analysis(asset_ids: list[int]) -> str:
    """Reset failed assets to pending and analyze them again; returns a one-line outcome."""
    from brandmood.services.analyze import run_analysis
    from db.queries.dashboard_jobs import reset_failed_assets

    ws = workspace()
    with ws.sessions.begin() as s:
        ids = reset_failed_assets(session=s, asset_ids=asset_ids,
                                  scope=auth.scope(Permission.INGEST))
    if not ids:
        return "Nothing to retry."
    bar = st.progress(0.0, text="Analyzing again…")
    run_analysis(ws, asset_ids=ids, progress=progress_callback(bar, "Analyzing"))
    return f"Analyzed {count(len(ids), 'asset')} again."


def retry_ingest(run_id: int) -> str:
    """Ingest again the failed local files of an ingest run; returns a one-line outcome."""
    from db.queries.dashboard_jobs import retryable_ingest_sources

    ws = workspace()
    with ws.session() as s:
        brand, paths = retryable_ingest_sources(session=s, run_id=run_id,
                                                scope=auth.scope(Permission.INGEST))
    if not paths:
        return "No failed local file of this run still exists to retry."
    bar = st.progress(0.0, text="Ingesting again…")
    summary = run_source(ws, FileSource(list(paths)), brand=brand,
                         opts=JobOptions(progress=progress_callback(bar, "Storing")))
    return (f"Retried {count(len(paths), 'file')}: {summary.stored} stored, "
            f"{summary.failed} failed.")


def jobs_view() -> None:
    """Ingest and analysis runs with counts, failures with reasons, and retry actions."""
    from db.queries import dashboard_jobs as jq

    scope = auth.scope(Permission.INGEST)
    with auth.session(Permission.INGEST) as s:
        ingests = jq.ingest_runs(session=s, scope=scope)
        runs = jq.analysis_runs(session=s, scope=scope)
        ifail = jq.ingest_failures(session=s, scope=scope)
        afail = jq.analysis_failures(session=s, scope=scope)
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
            st.success(retry_ingest(int(rid)))
    st.subheader("Analysis runs")
    if runs:
        st.dataframe([{"run": r.run_id, "model": r.model, "status": r.status.value,
                       "assets": r.assets, "faces": r.faces, "failed": r.failed,
                       "started": r.started_at, "finished": r.finished_at} for r in runs],
                     hide_index=True)
    else:
        st.info("No analysis run yet. Upload files, or run `brandmood analyze`.")
    if afail:
        st.markdown("**Assets whose analysis failed**")
        st.dataframe([{"asset": f.asset_id, "source": f.source, "reason": f.reason}
                      for f in afail], hide_index=True)
        if st.button(f"Retry {count(len(afail), 'failed analysis', 'failed analyses')}",
                     key="retry_analysis"):
            st.success(retry_analysis([f.asset_id for f in afail if f.asset_id is not None]))
