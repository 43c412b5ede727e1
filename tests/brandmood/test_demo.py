"""The demo workspace, built without analysis (quick): structure and manifest metadata."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.services.demo import DEMO_BRAND, demo_spec, load_demo
from db.models import Ambassador, Asset, AssetKind, Brand, Campaign, Channel, Platform


def test_load_demo_builds_the_workspace(ws) -> None:
    today = date(2026, 6, 30)
    summary = load_demo(ws, analyze=False, today=today)
    spec = demo_spec()
    assert summary.failed == 0 and summary.stored == len(spec["items"]) == 10
    with ws.session() as s:
        assert s.scalars(select(Brand.name)).all() == [DEMO_BRAND]
        campaigns = {c.name: c for c in s.scalars(select(Campaign))}
        assert set(campaigns) == {"Summer Smiles", "Autumn Launch"}
        assert campaigns["Summer Smiles"].starts_on == today - timedelta(days=42)
        assert {(c.platform, c.handle) for c in s.scalars(select(Channel))} == {
            (Platform.INSTAGRAM, "@demobrand"), (Platform.YOUTUBE, "DemoBrandTV"),
            (Platform.UPLOAD, "campaign-uploads")}
        assert set(s.scalars(select(Ambassador.name))) == {"Maya Lens", "Theo Ray"}
        assets = s.scalars(select(Asset)).all()
        kinds = [a.kind for a in assets]
        assert kinds.count(AssetKind.VIDEO) == 3 and kinds.count(AssetKind.IMAGE) == 7
        by_caption = {a.caption: a for a in assets}
        for item in spec["items"]:
            a = by_caption[item["caption"]]
            assert (a.likes, a.comments, a.shares, a.views) == (
                item["likes"], item["comments"], item["shares"], item["views"])
            assert a.channel.label == item["channel"]
            assert a.campaign.name == item["campaign"]
            expected = {"@maya.lens": "Maya Lens", "@theo.ray": "Theo Ray"}.get(
                item.get("ambassador"))
            assert (a.ambassador.name if a.ambassador else None) == expected
            age = datetime.combine(today, datetime.min.time(), UTC) \
                - a.posted_at.replace(tzinfo=UTC)
            assert item["days_ago"] - 1 <= age.days <= item["days_ago"]
            assert a.extra["format"] == item["format"]
            assert ws.media.path(a.media_path).stat().st_size > 1000
        teaser = by_caption["Autumn Launch teaser"]
        assert teaser.duration_s > 10 and teaser.width == 640
    again = load_demo(ws, analyze=False, today=today)  # idempotent
    assert again.stored == 0 and again.duplicate == 10
    with ws.session() as s:
        assert s.scalar(select(func.count(Asset.id))) == 10


def test_demo_command_if_empty(ws_env) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--no-analyze"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "10 stored" in result.stdout
    result = runner.invoke(app, ["demo", "--if-empty", "--no-analyze"],
                           catch_exceptions=False)
    assert result.exit_code == 0 and "not empty" in result.stdout
