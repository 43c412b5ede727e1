"""``brandmood export``: what the dashboard's filters select, as CSV, Excel or a PDF report."""

from __future__ import annotations

import enum
from datetime import date, datetime
from pathlib import Path

import typer

from brandmood.cli.common import UserError, app, user_errors, workspace
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.services import audit, reports
from brandmood.services.access import cli_operator
from db.models import Platform
from db.queries.core import get_brand
from db.queries.dashboard import brand_options
from db.queries.selection import DashboardFilters


class CsvKind(enum.StrEnum):
    FACES = "faces"
    ASSETS = "assets"


def _pick(kind: str, wanted: list[str], options: dict[int, str]) -> tuple[int, ...]:
    by_name = {v.lower(): k for k, v in options.items()}
    out = []
    for name in wanted:
        if name.lower() not in by_name:
            known = ", ".join(options.values()) or "none"
            raise UserError(f"unknown {kind} {name!r} (known: {known})")
        out.append(by_name[name.lower()])
    return tuple(out)


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{name} must be a date like 2025-01-31, got {value!r}") from None


def build_filters(session, *, brand: str, campaign: list[str], channel: list[str],
                  ambassador: list[str], platform: list[str], since: str | None,
                  until: str | None, min_confidence: float, uncertain: bool,
                  reviewed: bool) -> DashboardFilters:
    """Dashboard filters from names given on the command line.

    Raises:
        UserError: for unknown names, bad dates or a bad confidence.
    """
    b = get_brand(session, name=brand)
    scope = cli_operator().allowed_brands()
    opts = brand_options(session=session, brand_id=b.id, scope=scope)
    try:
        platforms = tuple(Platform(p.lower()) for p in platform)
    except ValueError:
        raise UserError(f"unknown platform in {platform}; expected one of "
                        f"{', '.join(p.value for p in Platform)}") from None
    try:
        return DashboardFilters(
            brand_id=b.id, campaign_ids=_pick("campaign", campaign, opts["campaign"]),
            channel_ids=_pick("channel", channel, opts["channel"]),
            ambassador_ids=_pick("ambassador", ambassador, opts["ambassador"]),
            platforms=platforms, date_from=_day(since, "--since"),
            date_to=_day(until, "--until"), min_confidence=min_confidence,
            include_uncertain=uncertain, use_reviews=reviewed, scope=scope)
    except ValueError as exc:
        raise UserError(str(exc)) from None


@app.command()
@user_errors
def export(
    brand: str = typer.Option(..., help="Brand name."),
    fmt: reports.ReportFormat = typer.Option(reports.ReportFormat.CSV, "--format",
                                             help="csv, xlsx or pdf."),
    out: Path = typer.Option(..., help="File to write."),
    csv_kind: CsvKind = typer.Option(CsvKind.FACES, "--csv", help="CSV of faces or assets."),
    campaign: list[str] = typer.Option([], help="Campaign name (repeatable)."),
    channel: list[str] = typer.Option([], help="Channel as platform:handle (repeatable)."),
    ambassador: list[str] = typer.Option([], help="Ambassador name (repeatable)."),
    platform: list[str] = typer.Option([], help="Platform, e.g. instagram (repeatable)."),
    since: str = typer.Option(None, help="First posting date, YYYY-MM-DD."),
    until: str = typer.Option(None, help="Last posting date, YYYY-MM-DD."),
    min_confidence: float = typer.Option(0.0, help="Leave out faces below this confidence."),
    uncertain: bool = typer.Option(True, "--uncertain/--no-uncertain",
                                   help="Count faces flagged uncertain."),
    reviewed: bool = typer.Option(False, "--reviewed", help="Reviewed labels over model labels."),
    show_faces: bool = typer.Option(
        False, "--show-faces",
        help="PDF: show faces unblurred, for internal use only (default: every face that is "
             "not a consenting ambassador's is blurred; the report says which)."),
) -> None:
    """Export faces/assets (CSV), a workbook (xlsx) or a PDF brand report.

    Images in the PDF blur every face that is not a consenting ambassador's unless
    --show-faces is given.
    """
    if out.parent and not out.parent.exists():
        raise UserError(f"folder {out.parent} does not exist")
    with workspace() as ws:
        try:
            audit.enforce(ws.sessions, cli_operator(), audit.export_limit(ws.config))
        except audit.RateLimited as exc:
            raise UserError(str(exc)) from None
        payload = _build(ws, brand=brand, fmt=fmt, csv_kind=csv_kind, show_faces=show_faces,
                         names=dict(campaign=campaign, channel=channel,
                                    ambassador=ambassador, platform=platform, since=since,
                                    until=until, min_confidence=min_confidence,
                                    uncertain=uncertain, reviewed=reviewed))
        with ws.sessions.begin() as s:  # recorded before the file is written
            audit.record(s, cli_operator(), AuditAction.EXPORT,
                         brand_id=get_brand(s, name=brand).id, object_kind=ObjectKind.REPORT,
                         object_id=fmt.value if fmt is not reports.ReportFormat.CSV
                         else f"{csv_kind.value}_csv",
                         details={"format": fmt.value, "show_faces": show_faces,
                                  "bytes": len(payload), "via": "cli"})
    out.write_bytes(payload)
    typer.echo(f"wrote {out} ({len(payload):,} bytes, {fmt.value}) at "
               f"{datetime.now():%Y-%m-%d %H:%M}")


def _build(ws, *, brand: str, fmt: reports.ReportFormat, csv_kind: CsvKind,
           show_faces: bool, names: dict) -> bytes:
    """The export's bytes (``names``: :func:`build_filters`' selection)."""
    with ws.session() as s:
        filters = build_filters(s, brand=brand, **names)
        data = reports.collect_report(s, filters=filters, media=ws.media, brand=brand,
                                      show_faces=show_faces)
        if fmt is reports.ReportFormat.CSV:
            payload = (reports.faces_csv(data) if csv_kind is CsvKind.FACES
                       else reports.assets_csv(data))
        elif fmt is reports.ReportFormat.XLSX:
            payload = reports.excel_report(data)
        else:
            try:
                payload = reports.pdf_report(data)
            except reports.ChartExportError as exc:
                raise UserError(str(exc)) from None
    return payload
