"""``brandmood ingest files|manifest|feed|instagram|facebook|youtube|source``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer
from tqdm import tqdm

from brandmood.cli.common import app, fail, user_errors, workspace
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.services import audit
from brandmood.services.access import cli_operator
from db.queries.ingest import brand_id_by_name
from ingest.base import PostMetadata, SourceKind, SourceRequest
from ingest.jobs import IngestSummary, JobOptions, run_source
from ingest.net import DEFAULT_WORKERS
from ingest.sources import build_source, source_names

ingest_app = typer.Typer(no_args_is_help=True, help=(
    "Bring media into the store: files, manifests, feeds, Instagram, Facebook, YouTube."))
app.add_typer(ingest_app, name="ingest")

BRAND = typer.Option(..., "--brand", help="Brand the media belong to (created if missing).")
CAMPAIGN = typer.Option(None, "--campaign", help="Campaign to assign (created if missing).")
CHANNEL = typer.Option(None, "--channel", help="Channel as platform:handle, e.g. instagram:@acme.")
AMBASSADOR = typer.Option(None, "--ambassador", help="Ambassador handle or name to assign.")
AS_JSON = typer.Option(False, "--json", help="Print a machine-readable summary on stdout.")
DRY_RUN = typer.Option(False, "--dry-run", help="Show what would happen; write nothing.")
WORKERS = typer.Option(DEFAULT_WORKERS, "--workers", min=1, max=64,
                       help="Parallel downloads.")
BASE_URL = typer.Option(None, "--base-url", help="API base URL (tests, proxies).")


class _Bars:
    """Two tqdm bars on stderr (items with rate and ETA; bytes).

    Both exist from the start; the job calls them through a SafeProgress, one thread
    at a time.
    """

    def __init__(self) -> None:
        self.items = tqdm(desc="items", unit="item", file=sys.stderr, dynamic_ncols=True)
        self.data = tqdm(desc="bytes", unit="B", unit_scale=True, unit_divisor=1024,
                         file=sys.stderr, dynamic_ncols=True)

    def progress(self, done: int, total: int, message: str) -> None:
        if self.items.total != total:
            self.items.total = total
        self.items.n = done
        self.items.set_postfix_str(message.rsplit("/", 1)[-1][-40:], refresh=False)
        self.items.refresh()

    def bytes(self, n: int) -> None:
        self.data.update(n)

    def close(self) -> None:
        self.items.close()
        self.data.close()


@contextmanager
def _bars(enabled: bool) -> Iterator[_Bars | None]:
    bars = _Bars() if enabled else None
    try:
        yield bars
    finally:
        if bars is not None:
            bars.close()


def _table(summary: IngestSummary) -> str:
    total = len(summary.items)
    lines = [f"{'outcome':<10} {'items':>7}", "-" * 18]
    lines += [f"{name:<10} {n:>7}" for name, n in (
        ("stored", summary.stored), ("duplicate", summary.duplicate),
        ("failed", summary.failed))]
    lines += ["-" * 18, f"{'total':<10} {total:>7}"]
    failed = [i for i in summary.items if i.outcome.value == "failed"]
    for item in failed[:20]:
        lines.append(f"failed: {item.source}: {item.reason}")
    if len(failed) > 20:
        lines.append(f"... and {len(failed) - 20} more failed items (use --json)")
    if summary.dry_run:
        lines.append("dry run: nothing was written")
    return "\n".join(lines)


def _record(ws, kind: str, brand: str, summary: IngestSummary) -> None:
    """The ingest in the audit trail, as the operating-system user."""
    with ws.sessions.begin() as s:
        audit.record(s, cli_operator(), AuditAction.INGEST,
                     brand_id=brand_id_by_name(s, name=brand.strip()),
                     object_kind=ObjectKind.INGEST_RUN, object_id=summary.run_id,
                     details={"source": kind, "stored": summary.stored,
                              "duplicate": summary.duplicate, "failed": summary.failed})


def _run(kind: str, targets: Sequence[str | Path], *, brand: str, campaign: str | None,
         channel: str | None, ambassador: str | None, as_json: bool, dry_run: bool,
         workers: int, base_url: str | None = None, base_dir: Path | None = None) -> None:
    """Build the source (a typo fails before any work), ingest, print the outcome."""
    if not (brand or "").strip():
        raise ValueError("brand name must not be empty")
    meta = PostMetadata.assigned(campaign=campaign, channel=channel, ambassador=ambassador)
    source = build_source(kind, SourceRequest(tuple(str(t) for t in targets), meta=meta,
                                              base_url=base_url, base_dir=base_dir))
    with workspace() as ws, _bars(not as_json) as bars:
        opts = JobOptions(workers=workers, dry_run=dry_run,
                          progress=bars.progress if bars else None,
                          on_bytes=bars.bytes if bars else None)
        summary = run_source(ws, source, brand=brand, opts=opts)
        if not dry_run:
            _record(ws, kind, brand, summary)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        typer.echo(_table(summary))
    if summary.error:
        fail(summary.error)


@ingest_app.command("files")
@user_errors
def files(paths: list[Path] = typer.Argument(..., help="Files, folders or zip archives."),
          brand: str = BRAND, campaign: str = CAMPAIGN, channel: str = CHANNEL,
          ambassador: str = AMBASSADOR, as_json: bool = AS_JSON, dry_run: bool = DRY_RUN,
          workers: int = WORKERS) -> None:
    """Ingest local files, folders (recursive) and zip archives."""
    _run(SourceKind.FILES, paths, brand=brand, campaign=campaign, channel=channel,
         ambassador=ambassador, as_json=as_json, dry_run=dry_run, workers=workers)


@ingest_app.command("manifest")
@user_errors
def manifest(path: Path = typer.Argument(..., help="CSV, JSON or JSON Lines manifest."),
             brand: str = BRAND, campaign: str = CAMPAIGN, channel: str = CHANNEL,
             ambassador: str = AMBASSADOR, as_json: bool = AS_JSON, dry_run: bool = DRY_RUN,
             workers: int = WORKERS,
             base_dir: Path = typer.Option(None, help="Folder that relative paths start at."),
             ) -> None:
    """Ingest a manifest of media URLs or paths with their post metadata."""
    _run(SourceKind.MANIFEST, [path], brand=brand, campaign=campaign, channel=channel,
         ambassador=ambassador, as_json=as_json, dry_run=dry_run, workers=workers,
         base_dir=base_dir)


@ingest_app.command("feed")
@user_errors
def feed(url: str = typer.Argument(..., help="RSS or Atom feed URL."),
         brand: str = BRAND, campaign: str = CAMPAIGN, channel: str = CHANNEL,
         ambassador: str = AMBASSADOR, as_json: bool = AS_JSON, dry_run: bool = DRY_RUN,
         workers: int = WORKERS) -> None:
    """Ingest the images and videos of an RSS/Atom feed (only what is new)."""
    _run(SourceKind.FEED, [url], brand=brand, campaign=campaign, channel=channel,
         ambassador=ambassador, as_json=as_json, dry_run=dry_run, workers=workers)


@ingest_app.command("instagram")
@user_errors
def instagram(account_id: str = typer.Argument(..., help="Instagram Graph user id."),
              brand: str = BRAND, campaign: str = CAMPAIGN, channel: str = CHANNEL,
              ambassador: str = AMBASSADOR, as_json: bool = AS_JSON, dry_run: bool = DRY_RUN,
              workers: int = WORKERS, base_url: str = BASE_URL) -> None:
    """Ingest an Instagram business/creator account (token: BRANDMOOD_INSTAGRAM_TOKEN)."""
    _run(SourceKind.INSTAGRAM, [account_id], brand=brand, campaign=campaign, channel=channel,
         ambassador=ambassador, as_json=as_json, dry_run=dry_run, workers=workers,
         base_url=base_url)


@ingest_app.command("facebook")
@user_errors
def facebook(page_id: str = typer.Argument(..., help="Facebook Page id."),
             brand: str = BRAND, campaign: str = CAMPAIGN, channel: str = CHANNEL,
             ambassador: str = AMBASSADOR, as_json: bool = AS_JSON, dry_run: bool = DRY_RUN,
             workers: int = WORKERS, base_url: str = BASE_URL) -> None:
    """Ingest a Facebook Page's posts (token: BRANDMOOD_FACEBOOK_TOKEN)."""
    _run(SourceKind.FACEBOOK, [page_id], brand=brand, campaign=campaign, channel=channel,
         ambassador=ambassador, as_json=as_json, dry_run=dry_run, workers=workers,
         base_url=base_url)


@ingest_app.command("youtube")
@user_errors
def youtube(youtube_channel: str = typer.Argument(..., metavar="CHANNEL_ID",
                                                  help="Channel id (UC…) or @handle."),
            brand: str = BRAND, campaign: str = CAMPAIGN, channel: str = CHANNEL,
            ambassador: str = AMBASSADOR, as_json: bool = AS_JSON, dry_run: bool = DRY_RUN,
            workers: int = WORKERS, base_url: str = BASE_URL) -> None:
    """Ingest a YouTube channel's uploads (API key: BRANDMOOD_YOUTUBE_KEY)."""
    _run(SourceKind.YOUTUBE, [youtube_channel], brand=brand, campaign=campaign,
         channel=channel, ambassador=ambassador, as_json=as_json, dry_run=dry_run,
         workers=workers, base_url=base_url)


@ingest_app.command("source")
@user_errors
def source(name: str = typer.Argument(..., help="Registered source name (plug-ins too)."),
           targets: list[str] = typer.Argument(..., help="What the source reads."),
           brand: str = BRAND, campaign: str = CAMPAIGN, channel: str = CHANNEL,
           ambassador: str = AMBASSADOR, as_json: bool = AS_JSON, dry_run: bool = DRY_RUN,
           workers: int = WORKERS, base_url: str = BASE_URL) -> None:
    """Ingest with any registered source, plug-ins included (see `ingest sources`)."""
    _run(name, targets, brand=brand, campaign=campaign, channel=channel,
         ambassador=ambassador, as_json=as_json, dry_run=dry_run, workers=workers,
         base_url=base_url)


@ingest_app.command("sources")
def sources() -> None:
    """List the registered source names (built-in and plug-ins)."""
    typer.echo("\n".join(source_names()))
