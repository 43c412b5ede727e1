"""``brandmood audit list``: the audit trail, newest first (one JSON object per line with
``--json``).

The command line acts as the operating-system user, who may read every brand's events
(whoever may run it may read the database anyway).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer

from brandmood.cli.common import UserError, app, user_errors, workspace
from brandmood.core.audit import AuditAction
from brandmood.services.access import cli_operator
from db.queries.audit import EventQuery, list_events
from db.queries.core import get_brand

audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: who did what, when.")
app.add_typer(audit_app, name="audit")


def parse_since(text: str | None) -> datetime | None:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO time (UTC where it names no zone).

    Raises:
        UserError: for anything else.
    """
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"--since {text!r}: expected YYYY-MM-DD or an ISO time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@audit_app.command("list")
@user_errors
def audit_list(brand: str = typer.Option(None, help="Only this brand's events."),
               action: AuditAction = typer.Option(None, help="Only this action."),
               user: str = typer.Option(None, help="Only this user (as the trail names them)."),
               since: str = typer.Option(None, help="From this day (YYYY-MM-DD) or ISO time."),
               limit: int = typer.Option(1000, min=1, help="At most this many events."),
               as_json: bool = typer.Option(False, "--json",
                                            help="One JSON object per event.")) -> None:
    """The audit trail's events, newest first."""
    scope = cli_operator().allowed_brands()
    with workspace() as ws, ws.session() as s:
        brand_id = get_brand(s, name=brand).id if brand else None
        rows = list_events(session=s, query=EventQuery(
            scope=scope, brand_id=brand_id, actor=user, action=action,
            since=parse_since(since), limit=limit))
    for r in rows:
        if as_json:
            typer.echo(json.dumps(r.to_json(), sort_keys=True))
        else:
            obj = f" {r.object_kind.value}:{r.object_id}" if r.object_kind else ""
            typer.echo(f"{r.at:%Y-%m-%d %H:%M:%S}Z  {r.action.value:<18} {r.user}  "
                       f"{r.brand or '-'}{obj}")
    if not rows and not as_json:
        typer.echo("no events")
