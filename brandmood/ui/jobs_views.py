"""Running ingest and analysis from the dashboard with a live progress bar."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from brandmood.ui.data import workspace


@dataclass
class UploadOutcome:
    """What an upload ended with: stored asset ids, refused files with reasons, faces."""

    stored: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    analysis_error: str | None = None


def engine_missing() -> str | None:
    """Why uploads cannot run here (None: ingest and analysis are installed)."""
    for mod, fn in (("ingest.jobs", "ingest_paths"),
                    ("brandmood.services.analyze", "run_analysis")):
        try:
            if not hasattr(importlib.import_module(mod), fn):
                return f"{mod}.{fn} is missing"
        except ImportError as exc:
            return f"{mod} cannot be imported ({exc})"
    return None


def progress_callback(bar, prefix: str) -> Callable[[int, int, str], None]:
    """A ``(done, total, message)`` callback that moves a Streamlit progress bar."""
    def report(done: int, total: int, message: str) -> None:
        frac = min(1.0, done / total) if total else 0.0
        bar.progress(frac, text=f"{prefix}: {done}/{total} {message}"[:200])
    return report


def save_uploads(files: Sequence, folder: Path) -> list[Path]:
    """Write uploaded files (name + bytes) into ``folder``; names are made safe and unique."""
    paths = []
    for i, f in enumerate(files):
        name = Path(f.name).name.replace("/", "_") or f"upload-{i}"
        dest = folder / f"{i:03d}-{name}"
        dest.write_bytes(f.getvalue())
        paths.append(dest)
    return paths


def ingest_and_analyze(files: Sequence, *, brand: str, campaign: str | None,
                       channel: str | None, ambassador: str | None,
                       model: str | None) -> UploadOutcome:
    """Ingest uploaded files, then analyze what was stored, with live progress bars."""
    from brandmood.services.analyze import run_analysis
    from ingest.jobs import ingest_paths

    ws = workspace()
    out = UploadOutcome()
    with tempfile.TemporaryDirectory(prefix="bm-upload-") as tmp:
        paths = save_uploads(files, Path(tmp))
        names = {str(p): p.name[4:] for p in paths}
        bar = st.progress(0.0, text="Storing files…")
        summary = ingest_paths(ws, paths=paths, brand=brand, campaign=campaign or None,
                               channel=channel or None, ambassador=ambassador or None,
                               progress=progress_callback(bar, "Storing"))
        for item in summary.items:
            outcome = getattr(item.outcome, "value", str(item.outcome))
            src = str(item.source)
            shown = next((n for p, n in names.items() if src.startswith(p)), Path(src).name)
            if outcome == "stored" and item.asset_id is not None:
                out.stored.append(int(item.asset_id))
            elif outcome == "duplicate":
                out.duplicates.append(shown)
                if item.asset_id is not None:
                    out.stored.append(int(item.asset_id))
            elif outcome == "failed":
                out.refused.append((shown, item.reason or "refused"))
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
        ids = reset_failed_assets(session=s, asset_ids=asset_ids)
    if not ids:
        return "Nothing to retry."
    bar = st.progress(0.0, text="Analyzing again…")
    run_analysis(ws, asset_ids=ids, progress=progress_callback(bar, "Analyzing"))
    return f"Analyzed {len(ids)} assets again."


def retry_ingest(run_id: int) -> str:
    """Ingest again the failed local files of an ingest run; returns a one-line outcome."""
    from db.queries.dashboard_jobs import retryable_ingest_sources
    from ingest.jobs import ingest_paths

    ws = workspace()
    with ws.session() as s:
        brand, paths = retryable_ingest_sources(session=s, run_id=run_id)
    if not paths:
        return "No failed local file of this run still exists to retry."
    bar = st.progress(0.0, text="Ingesting again…")
    summary = ingest_paths(ws, paths=paths, brand=brand,
                           progress=progress_callback(bar, "Storing"))
    return f"Retried {len(paths)} files: {summary.stored} stored, {summary.failed} failed."


def jobs_view() -> None:
    """Ingest and analysis runs with counts, failures with reasons, and retry actions."""
    from db.queries import dashboard_jobs as jq

    with workspace().session() as s:
        ingests = jq.ingest_runs(session=s)
        runs = jq.analysis_runs(session=s)
        ifail = jq.ingest_failures(session=s)
        afail = jq.analysis_failures(session=s)
    missing = engine_missing()
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
        if st.button("Retry its failed files", key="retry_ingest", disabled=bool(missing)):
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
        if st.button(f"Retry {len(afail)} failed analyses", key="retry_analysis",
                     disabled=bool(missing)):
            st.success(retry_analysis([f.asset_id for f in afail if f.asset_id is not None]))
    if missing:
        st.caption(f"Retry needs the jobs, which are not available here: {missing}.")
