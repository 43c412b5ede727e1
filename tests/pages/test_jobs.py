"""Jobs page: the queue with progress and results, runs with counts, failures and reasons,
and retry / analyze actions that queue jobs a real worker then runs."""

from __future__ import annotations

from sqlalchemy import text

from brandmood.core.access import BrandScope
from brandmood.services.worker import Worker
from brandmood.ui import jobs_views
from brandmood.ui.jobs_views import count
from db.models import JobKind
from db.queries import jobs as jq
from tests.pages.conftest import run_page


def test_jobs_page_lists_runs_and_failures(filled):
    at = run_page("jobs.py")
    frames = [d.value for d in at.dataframe]
    ingest = next(df for df in frames if "duplicate" in df.columns)
    assert list(ingest["stored"]) == [1] and list(ingest["failed"]) == [1]
    reasons = {r for df in frames if "reason" in df.columns for r in df["reason"]}
    assert "not an image: cannot identify image file" in reasons
    assert "decoder error: truncated file" in reasons
    runs = next(df for df in frames if "model" in df.columns)
    assert set(runs["model"]) == {"fer-mini-xception@1.0", "old-model@0.1"}
    assert any("No job yet" in i.value for i in at.info)


def test_retry_failed_analysis_is_queued_and_run_by_the_worker(filled):
    """The failed asset is a real photo: the queued retry analyzes it with the real engine."""
    at = run_page("jobs.py")
    button = at.button(key="retry_analysis")
    assert button.label == "Retry 1 failed analysis"
    button.click().run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.success] == ["Queued job #1: 1 asset to analyze again."]
    assert [w.value for w in at.warning] == [jobs_views.NO_WORKER]
    queue = next(d.value for d in at.dataframe if "attempts" in d.value.columns)
    assert list(queue["kind"]) == ["reanalyze"] and list(queue["status"]) == ["queued"]
    status = "SELECT status FROM asset WHERE id = :a"
    with filled.ws.engine.connect() as conn:  # reset at once, analyzed by the worker
        assert conn.execute(text(status), {"a": filled.ids["failed_asset"]}).scalar() == \
            "pending"
    (outcome,) = Worker(filled.ws).run(once=True)
    assert outcome.status == "done" and outcome.result["analyzed"] == 1
    with filled.ws.engine.connect() as conn:
        assert conn.execute(text(status), {"a": filled.ids["failed_asset"]}).scalar() == \
            "analyzed"
    at.run(timeout=60)
    queue = next(d.value for d in at.dataframe if "attempts" in d.value.columns)
    assert list(queue["status"]) == ["done"]
    faces = outcome.result["faces"]
    assert list(queue["result"]) == [f"1 analyzed, 0 failed, {count(faces, 'face')}"]
    assert not at.warning and any("No worker is running" in c.value for c in at.caption)


def test_analyze_pending_queues_a_job_and_running_jobs_show_progress(filled):
    at = run_page("jobs.py")
    at.button(key="analyze_pending").click().run(timeout=60)
    assert not at.exception, [e.value for e in at.exception]
    with filled.ws.session() as s:
        (job,) = jq.list_jobs(session=s, scope=BrandScope.ALL)
    assert (job.kind, job.arguments["asset_ids"]) == (JobKind.ANALYZE, None)
    with filled.ws.sessions.begin() as s:
        jq.claim_job(session=s, worker="w9", lease_s=60)
    with filled.ws.sessions.begin() as s:
        jq.register_worker(session=s, name="w9", host="h", pid=9)
        jq.worker_heartbeat(session=s, name="w9", job_id=job.id)
        jq.renew_lease(session=s, job_id=job.id, worker="w9", lease_s=60,
                       progress=(2, 8, "asset 5: 1 faces"))
    at.run(timeout=60)
    assert [p.proto.text for p in at.get("progress")] == [
        f"Job #{job.id} (analyze): 2/8 asset 5: 1 faces"]
    assert any(c.value == f"1 worker running: w9 (job #{job.id})" for c in at.caption)
    assert not at.warning


def test_jobs_page_empty(empty_home):
    at = run_page("jobs.py")
    assert any("No ingest run yet" in i.value for i in at.info)
    assert any("No job yet" in i.value for i in at.info)
