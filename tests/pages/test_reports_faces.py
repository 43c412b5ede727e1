"""The Reports page's face switch: off by default (blurred), on for internal use, and the
PDF it prepares says which."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from tests.pages.conftest import run_page


@pytest.mark.slow
def test_reports_page_switch_shows_faces_and_the_pdf_says_so(filled):
    at = run_page("reports.py")
    assert at.toggle(key="rep_faces").value is False  # blurred unless asked
    assert not at.warning
    at.toggle(key="rep_faces").set_value(True)
    at.run()
    assert any("keep it inside the organisation" in w.value for w in at.warning)
    at.button(key="prep_pdf").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len([d for d in at.get("download_button")
                if d.proto.label == "Download brandmood-report.pdf"]) == 1
    payload = at.session_state["rep_ready"]["pdf"][1]
    reader = PdfReader(io.BytesIO(payload))
    assert "faces shown unblurred" in reader.metadata.get("/Keywords", "")
    # switched back off, the prepared file no longer matches: it must be prepared again
    at.toggle(key="rep_faces").set_value(False)
    at.run()
    assert not [d for d in at.get("download_button")
                if d.proto.label == "Download brandmood-report.pdf"]
