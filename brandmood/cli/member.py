"""``brandmood member``: who may sign in to which brand, with which role.

The command line acts as the local operator (the operating-system user), who may do
everything, owners and admins included.
"""

from __future__ import annotations

import json

import typer

from brandmood.cli.common import app, user_errors, workspace
from brandmood.core.access import Role
from brandmood.services import access
from db.queries.core import get_brand

member_app = typer.Typer(no_args_is_help=True,
                         help="Members: users (by email or subject) and their role per brand.")
app.add_typer(member_app, name="member")

USER_HELP = "The user's email, or the identity provider's subject (sub)."


@member_app.command("add")
@user_errors
def member_add(brand: str = typer.Option(..., help="Brand name."),
               user: str = typer.Option(..., help=USER_HELP),
               role: Role = typer.Option(..., help="viewer, analyst or admin.")) -> None:
    """Give a user a role in a brand (an invitation until they first sign in), or change it."""
    actor = access.cli_operator()
    with workspace() as ws, ws.sessions.begin() as s:
        change = access.set_member(s, actor, brand_id=get_brand(s, name=brand).id, user=user,
                                   role=role)
    was = f" (was {change.before.value})" if change.before else ""
    typer.echo(f"{change.user} is {role.value} of {brand}{was}")


@member_app.command("remove")
@user_errors
def member_remove(brand: str = typer.Option(..., help="Brand name."),
                  user: str = typer.Option(..., help=USER_HELP)) -> None:
    """Take a user's role in a brand away."""
    actor = access.cli_operator()
    with workspace() as ws, ws.sessions.begin() as s:
        change = access.remove_member(s, actor, brand_id=get_brand(s, name=brand).id,
                                      user=user)
    was = change.before.value if change.before else "member"
    typer.echo(f"{change.user} is no longer {was} of {brand}")


@member_app.command("list")
@user_errors
def member_list(brand: str = typer.Option(..., help="Brand name."),
                as_json: bool = typer.Option(False, "--json",
                                             help="One JSON object per member.")) -> None:
    """The brand's members, strongest role first."""
    actor = access.cli_operator()
    with workspace() as ws, ws.session() as s:
        rows = access.members(s, actor, brand_id=get_brand(s, name=brand).id)
    for r in rows:
        if as_json:
            typer.echo(json.dumps({"user": r.label, "subject": r.subject, "email": r.email,
                                   "name": r.display_name, "role": r.role.value,
                                   "since": r.since.isoformat(),
                                   "last_sign_in": r.last_sign_in_at.isoformat()
                                   if r.last_sign_in_at else None}))
        else:
            seen = (f"last signed in {r.last_sign_in_at:%Y-%m-%d}" if r.last_sign_in_at
                    else "not signed in yet")
            typer.echo(f"{r.role.value:<8} {r.label}  ({seen})")
    if not rows and not as_json:
        typer.echo(f"{brand} has no members yet (owners see every brand)")


@member_app.command("owner")
@user_errors
def member_owner(user: str = typer.Option(..., help=USER_HELP),
                 remove: bool = typer.Option(False, "--remove",
                                             help="No longer an owner.")) -> None:
    """Make a user a workspace owner (every brand, brands and admins), or no longer one."""
    actor = access.cli_operator()
    with workspace() as ws, ws.sessions.begin() as s:
        name = access.set_owner(s, actor, user=user, owner=not remove)
    typer.echo(f"{name} is {'no longer' if remove else 'now'} a workspace owner")
