"""``brandmood erase …`` (a person, an asset, a campaign, a channel, a brand) and
``brandmood retention apply``.

Nothing is erased without ``--yes``; each command prints the erasure receipt (``--json``:
as JSON), which names what was erased by an opaque id only.
"""

from __future__ import annotations

import typer

from brandmood.cli.common import UserError, app, user_errors, workspace
from brandmood.services.access import cli_operator
from brandmood.services.erasure import ErasureReceipt

erase_app = typer.Typer(no_args_is_help=True, help="Erase data for good (right to be "
                        "forgotten): rows, media files, crops and thumbnails.")
app.add_typer(erase_app, name="erase")

YES = typer.Option(False, "--yes", help="Confirm: erase for good (nothing happens without it).")
JSON = typer.Option(False, "--json", help="Print the receipt as JSON.")
MATCHED = typer.Option(None, "--matched-faces",
                       help="remove | detach the faces matched to the person (default: "
                       "BRANDMOOD_ERASE_MATCHED_FACES, else remove).")


def confirm(yes: bool, what: str) -> None:
    """Refuse (a user error, nothing changed) unless ``--yes`` was given."""
    if not yes:
        raise UserError(f"refusing to erase {what} without --yes (erasure cannot be undone; "
                        "nothing was changed)")


def show(receipt: ErasureReceipt, as_json: bool) -> None:
    """Print the receipt."""
    typer.echo(receipt.to_json() if as_json else "\n".join(receipt.lines()))


def _mode(value: str | None):
    from db.queries.erasure import MatchedFaces

    if value is None:
        return None
    try:
        return MatchedFaces(value.lower())
    except ValueError:
        raise UserError(f"--matched-faces must be remove or detach, got {value!r}") from None


@erase_app.command("ambassador")
@user_errors
def ambassador_cmd(name: str = typer.Argument(..., help="The ambassador's name."),
                   brand: str = typer.Option(..., help="Their brand."),
                   matched_faces: str = MATCHED, yes: bool = YES,
                   as_json: bool = JSON) -> None:
    """Erase an ambassador: references, embeddings, consents, matched faces and crops."""
    from brandmood.services.erasure import erase_ambassador

    mode = _mode(matched_faces)
    confirm(yes, "an ambassador")
    with workspace() as ws:
        show(erase_ambassador(ws, cli_operator(), brand=brand, name=name, matched=mode),
             as_json)


@erase_app.command("face")
@user_errors
def face_cmd(face_id: int = typer.Argument(..., help="A face id (dashboard, Review page)."),
             matched_faces: str = MATCHED, yes: bool = YES, as_json: bool = JSON) -> None:
    """Erase the person a face shows: their ambassador and every face matched to them, or
    (an unmatched face) the face and its video track."""
    from brandmood.services.erasure import erase_face

    mode = _mode(matched_faces)
    confirm(yes, "a person")
    with workspace() as ws:
        show(erase_face(ws, cli_operator(), face_id=face_id, matched=mode), as_json)


@erase_app.command("asset")
@user_errors
def asset_cmd(asset_id: int = typer.Argument(..., help="The asset id."), yes: bool = YES,
              as_json: bool = JSON) -> None:
    """Erase an asset, its faces and its media file (unless another asset uses it)."""
    from brandmood.services.erasure import erase_asset

    confirm(yes, "an asset")
    with workspace() as ws:
        show(erase_asset(ws, cli_operator(), asset_id=asset_id), as_json)


@erase_app.command("campaign")
@user_errors
def campaign_cmd(name: str = typer.Argument(..., help="The campaign's name."),
                 brand: str = typer.Option(..., help="Its brand."), yes: bool = YES,
                 as_json: bool = JSON) -> None:
    """Erase a campaign and every asset in it."""
    from brandmood.services.erasure import erase_campaign

    confirm(yes, "a campaign")
    with workspace() as ws:
        show(erase_campaign(ws, cli_operator(), brand=brand, name=name), as_json)


@erase_app.command("channel")
@user_errors
def channel_cmd(name: str = typer.Argument(..., help="platform:handle, or the handle."),
                brand: str = typer.Option(..., help="Its brand."), yes: bool = YES,
                as_json: bool = JSON) -> None:
    """Erase a channel and every asset posted there."""
    from brandmood.services.erasure import erase_channel

    confirm(yes, "a channel")
    with workspace() as ws:
        show(erase_channel(ws, cli_operator(), brand=brand, name=name), as_json)


@erase_app.command("brand")
@user_errors
def brand_cmd(name: str = typer.Argument(..., help="The brand's name."), yes: bool = YES,
              as_json: bool = JSON) -> None:
    """Erase a whole brand: assets and media, ambassadors, campaigns, channels, members."""
    from brandmood.services.erasure import erase_brand

    confirm(yes, "a brand")
    with workspace() as ws:
        show(erase_brand(ws, cli_operator(), name=name), as_json)


retention_app = typer.Typer(no_args_is_help=True, help="Retention policy: drop media and "
                            "crops N days after analysis, everything after M days.")
app.add_typer(retention_app, name="retention")


@retention_app.command("apply")
@user_errors
def retention_cmd(
    media_days: int = typer.Option(None, help="Remove media files, thumbnails and face crops "
                                   "of assets analyzed more than this many days ago (face "
                                   "rows and counts stay; default: "
                                   "BRANDMOOD_RETENTION_MEDIA_DAYS)."),
    all_days: int = typer.Option(None, help="Erase assets stored more than this many days "
                                 "ago (default: BRANDMOOD_RETENTION_ALL_DAYS)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print what would be removed."),
    yes: bool = YES, as_json: bool = JSON,
) -> None:
    """Apply the retention policy to every brand (a dry run first; fit for a schedule)."""
    import json

    from brandmood.services.retention import RetentionPolicy, apply_retention

    with workspace() as ws:
        configured = RetentionPolicy.configured(ws)
        policy = RetentionPolicy(configured.media_days if media_days is None else media_days,
                                 configured.all_days if all_days is None else all_days)
        if policy.media_days is None and policy.all_days is None:
            raise UserError("no retention set: give --media-days and/or --all-days (or "
                            "BRANDMOOD_RETENTION_MEDIA_DAYS / BRANDMOOD_RETENTION_ALL_DAYS)")
        if not dry_run:
            confirm(yes, "media and data under the retention policy")
        report = apply_retention(ws, cli_operator(), policy=policy, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps({"dry_run": report.dry_run, "media_assets": report.media_assets,
                               "media_files": report.media_files,
                               "erased_assets": report.erased_assets,
                               "receipt": report.receipt.as_dict() if report.receipt else None},
                              indent=2, sort_keys=True))
        return
    typer.echo("\n".join(report.lines()))
    if report.receipt:
        typer.echo("\n".join(report.receipt.lines()))


consent_app = typer.Typer(no_args_is_help=True, help="Ambassadors' consent to face "
                          "recognition: record it, withdraw it.")
app.add_typer(consent_app, name="consent")


@consent_app.command("record")
@user_errors
def consent_record_cmd(
    ambassador: str = typer.Option(..., help="The ambassador's name."),
    brand: str = typer.Option(..., help="Their brand."),
    by: str = typer.Option(..., help="Who consented (the ambassador, or who signed for them)."),
    basis: str = typer.Option(..., help="The contract or consent form it rests on."),
    date: str = typer.Option(None, help="When they consented, YYYY-MM-DD (default: now)."),
) -> None:
    """Record an existing ambassador's consent to recognition."""
    from brandmood.services.erasure import record_consent

    consent = consent_of(by, basis, date)
    with workspace() as ws:
        record_consent(ws, cli_operator(), brand=brand, name=ambassador, consent=consent)
    typer.echo("consent recorded")


@consent_app.command("withdraw")
@user_errors
def consent_withdraw_cmd(
    ambassador: str = typer.Option(..., help="The ambassador's name."),
    brand: str = typer.Option(..., help="Their brand."), yes: bool = YES, as_json: bool = JSON,
) -> None:
    """Withdraw consent: erase the ambassador's references, embeddings and crops."""
    from brandmood.services.erasure import withdraw_consent

    confirm(yes, "an ambassador's references and embeddings")
    with workspace() as ws:
        show(withdraw_consent(ws, cli_operator(), brand=brand, name=ambassador), as_json)


def consent_of(by: str | None, basis: str | None, date: str | None):
    """A :class:`~db.queries.consent.Consent` from the options (None: none given).

    Raises:
        UserError: only part of it is given, or the date is not ``YYYY-MM-DD``.
    """
    from datetime import UTC, datetime

    from db.queries.consent import Consent

    if by is None and basis is None and date is None:
        return None
    if not by or not basis:
        raise UserError("consent needs both --consent-by (who consented) and --consent-basis "
                        "(the contract or consent form)")
    at = None
    if date:
        try:
            at = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise UserError(f"consent date must be YYYY-MM-DD, got {date!r}") from None
    return Consent(given_by=by, basis=basis, consented_at=at)
