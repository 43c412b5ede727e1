"""The source registry: built-ins by name, a plug-in in one file, by call or entry point."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brandmood.cli import app
from ingest import sources
from ingest.base import PostMetadata, SourceKind, SourceRequest
from ingest.feeds import FeedSource
from ingest.files import FileSource
from tests.ingest.conftest import jpeg_bytes
from tests.ingest.plugin_source import UrlListSource

PLUGIN = "tests.ingest.plugin_source:UrlListSource.from_request"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as shipped, restored after the test."""
    monkeypatch.setattr(sources, "_REGISTRY", dict(sources._REGISTRY))
    monkeypatch.setattr(sources, "_entry_points_loaded", False)


def test_every_builtin_kind_is_registered(registry) -> None:
    assert sources.source_names()[:6] == [k.value for k in SourceKind]


def test_build_by_name_with_assignments(registry, tmp_path: Path) -> None:
    meta = PostMetadata.assigned(campaign="Spring", channel="upload:web")
    files = sources.build_source("files", SourceRequest((str(tmp_path),), meta=meta))
    assert isinstance(files, FileSource) and files.paths == [tmp_path]
    assert files.meta.campaign == "Spring" and str(files.meta.channel) == "upload:web"
    feed = sources.build_source("FEED", SourceRequest(("https://acme.example/rss",)))
    assert isinstance(feed, FeedSource) and str(feed.meta.channel) == "rss:https://acme.example/rss"
    with pytest.raises(ValueError, match=r"unknown ingest source 'myspace'.*known: files"):
        sources.build_source("myspace", SourceRequest(("x",)))
    with pytest.raises(ValueError, match="exactly one feed URL"):
        sources.build_source("feed", SourceRequest(("a", "b")))


def test_a_plugin_source_registered_by_call_ingests_from_the_cli(registry, ws_env, tmp_path,
                                                                 media) -> None:
    sources.register_source("url-list", UrlListSource.from_request)
    with pytest.raises(ValueError, match="already registered"):
        sources.register_source("URL-list", UrlListSource.from_request)
    (tmp_path / "b.jpg").write_bytes(jpeg_bytes(3))
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two photos\n{media.path('single_face.jpg')}\n{tmp_path / 'b.jpg'}\n")
    result = CliRunner().invoke(app, ["ingest", "source", "url-list", str(listing),
                                      "--brand", "Acme", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [(i["source"], i["outcome"]) for i in out["items"]] == [
        (str(media.path("single_face.jpg")), "stored"), (str(tmp_path / "b.jpg"), "stored")]


def test_a_plugin_source_from_an_entry_point(registry, monkeypatch, tmp_path: Path) -> None:
    found = [EntryPoint(name="url-list", value=PLUGIN, group=sources.ENTRY_POINT_GROUP),
             EntryPoint(name="broken", value="no.such.module:thing",
                        group=sources.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(sources, "entry_points", lambda group: found
                        if group == sources.ENTRY_POINT_GROUP else [])
    listing = tmp_path / "list.txt"
    listing.write_text("https://cdn.example/a.jpg\n")
    built = sources.build_source("url-list", SourceRequest((str(listing),)))
    assert isinstance(built, UrlListSource) and built.kind == "url-list"
    assert "broken" not in sources.source_names()  # a broken plug-in is skipped, logged
    result = CliRunner().invoke(app, ["ingest", "sources"])
    assert result.stdout.split() == [*(k.value for k in SourceKind), "url-list"]
