"""Access decisions: who acts, whether they may, and changes to who may.

Every permission refusal and every membership change of the app passes through the
functions here (:func:`require`, :func:`sign_in`, :func:`set_member`,
:func:`remove_member`, :func:`set_owner`, :func:`create_brand`), so that recording
them is one call at each. Reads stay inside the caller's brands by the query layer's
brand scope (``principal.allowed_brands(...)``; see :mod:`brandmood.core.access`).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from brandmood.core.access import (
    AccessDenied,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    merge_roles,
)
from brandmood.core.audit import AuditAction, ObjectKind, actor_name
from brandmood.services import audit
from db.models import Brand
from db.queries import audit as aq
from db.queries import members as mq
from db.queries.core import NotFoundError, get_or_create_brand
from db.queries.ingest import brand_id_by_name

OWNER_GROUP = "brandmood:owner"
"""A group claim value that makes a signed-in user a workspace owner."""
BRAND_GROUP_PREFIX = "brand:"
"""Group claims ``brand:<brand name>:<role>`` grant a role in a brand."""


def local_admin() -> Principal:
    """The embedded server's one user when sign-in is off (127.0.0.1, or the override)."""
    return Principal(PrincipalKind.LOCAL_ADMIN, display_name="local admin")


def cli_operator() -> Principal:
    """The command line, acting as the operating-system user who runs it."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no user name in this environment
        name = "unknown"
    return Principal(PrincipalKind.CLI, subject=name, display_name=name)


@dataclass(frozen=True)
class Identity:
    """What a sign-in says about a person (from the ID token's claims)."""

    subject: str
    email: str
    display_name: str
    groups: tuple[str, ...]
    issued_at: int | None = None
    """The ID token's ``iat``: one value per sign-in at the provider (a browser session of
    the app starts on every page load; this tells a new sign-in from a reload)."""

    @classmethod
    def from_claims(cls, claims: Mapping[str, object], *, groups_claim: str) -> Identity:
        """Read ``sub``, ``email`` (unless ``email_verified`` is false), ``name`` and the
        groups claim.

        Raises:
            AccessDenied: the claims carry no subject.
        """
        subject = str(claims.get("sub") or "").strip()
        if not subject:
            raise AccessDenied("Access refused: the identity provider sent no subject.")
        email = str(claims.get("email") or "").strip().lower()
        if claims.get("email_verified") is False:
            email = ""
        name = str(claims.get("name") or claims.get("preferred_username") or "").strip()
        raw = claims.get(groups_claim)
        groups = ((raw,) if isinstance(raw, str)
                  else tuple(str(g) for g in raw) if isinstance(raw, list | tuple) else ())
        iat = claims.get("iat")
        return cls(subject, email, name, groups, int(iat) if isinstance(iat, int) else None)


def group_roles(groups: Iterable[str], brands: Mapping[str, int]) -> list[tuple[int, Role]]:
    """``(brand id, role)`` granted by group claims ``brand:<brand name>:<role>``.

    Claims for unknown brands or roles grant nothing.
    """
    out = []
    for group in groups:
        if not group.startswith(BRAND_GROUP_PREFIX):
            continue
        name, _, role = group.removeprefix(BRAND_GROUP_PREFIX).rpartition(":")
        if name in brands and role in Role.__members__.values():
            out.append((brands[name], Role(role)))
    return out


def _principal(session: Session, who: Identity, user) -> Principal:
    stored = mq.memberships(session=session, user_id=user.id) if user is not None else []
    roles = merge_roles(stored, group_roles(who.groups, mq.brand_ids_by_name(session=session)))
    owner = OWNER_GROUP in who.groups or bool(user is not None and user.is_owner)
    return Principal(PrincipalKind.USER, subject=who.subject, email=who.email,
                     display_name=who.display_name, owner=owner, roles=roles,
                     user_id=None if user is None else user.id)


def sign_in(session: Session, who: Identity) -> Principal:
    """A browser session's first run while signed in (each page load starts one; a new
    sign-in at the provider has a new ``who.issued_at``): bind the stored user (an email
    invitation gets its subject now), note the time, and return the principal."""
    user = mq.user_for_sign_in(session=session, subject=who.subject, email=who.email or None,
                               display_name=who.display_name)
    principal = _principal(session, who, user)
    _record_sign_in(session, principal, who.issued_at)
    return principal


def _record_sign_in(session: Session, principal: Principal, issued_at: int | None) -> None:
    """One audit event per sign-in at the provider (an ID token's ``iat``), not per page
    load: a sign-in, or a refused one where no brand is shared with the user."""
    name = actor_name(principal)
    actions = (AuditAction.SIGN_IN, AuditAction.SIGN_IN_FAILED)
    last = aq.last_details(session=session, actor=name, actions=actions)
    if issued_at is not None and last is not None and last.get("iat") == issued_at:
        return  # a reload of the same sign-in
    if principal.allowed_brands().is_empty:
        audit.record(session, principal, AuditAction.SIGN_IN_FAILED,
                     details={"reason": "no brand is shared with this user", "iat": issued_at})
    else:
        audit.record(session, principal, AuditAction.SIGN_IN, object_kind=ObjectKind.USER,
                     object_id=principal.user_id,
                     details={"owner": principal.is_owner, "brands": len(principal.roles),
                              "iat": issued_at})


def principal_for(session: Session, who: Identity) -> Principal:
    """The principal of a signed-in person on every later run (reads only: roles changed
    by an admin apply on the next run)."""
    user = mq.find_user(session=session, key=mq.UserKey(subject=who.subject))
    if user is None and who.email:
        found = mq.find_user(session=session, key=mq.UserKey(email=who.email))
        user = found if found is not None and found.subject is None else None
    return _principal(session, who, user)


def require(principal: Principal, permission: Permission, brand_id: int | None = None, *,
            what: str | None = None) -> None:
    """Refuse (raise :class:`AccessDenied`) unless the principal may do ``permission`` in
    the brand (``brand_id`` None: workspace-wide, owners only)."""
    principal.require(permission, brand_id, what=what)


def members(session: Session, actor: Principal, *, brand_id: int) -> list[mq.MemberRow]:
    """The brand's members (admins of the brand and owners may list them)."""
    require(actor, Permission.MEMBERS, brand_id, what="the brand's members")
    return mq.list_members(session=session, brand_id=brand_id)


@dataclass(frozen=True)
class MemberChange:
    """A membership change: who, in which brand, the role before and after (None: none)."""

    user: str
    brand_id: int
    before: Role | None
    after: Role | None


def _record_change(session: Session, actor: Principal, user: str, brand_id: int,
                   before: Role | None, after: Role | None) -> None:
    audit.record(session, actor, AuditAction.MEMBERSHIP_CHANGE, brand_id=brand_id,
                 object_kind=ObjectKind.USER, object_id=user,
                 details={"before": before.value if before else None,
                          "after": after.value if after else None})


def _check_admin_change(actor: Principal, *roles: Role | None) -> None:
    if Role.ADMIN in roles:
        require(actor, Permission.MANAGE_ADMINS, what="granting or revoking the admin role")


def set_member(session: Session, actor: Principal, *, brand_id: int, user: str,
               role: Role) -> MemberChange:
    """Invite a user (by email or subject) into the brand with ``role``, or change their
    role. Brand admins manage viewers and analysts; the admin role is the owner's to give
    or take.

    Raises:
        AccessDenied: the actor may not; ValueError: an empty user name.
    """
    require(actor, Permission.MEMBERS, brand_id, what="changing the brand's members")
    key = mq.UserKey.parse(user)
    row = mq.get_or_create_user(session=session, key=key)
    before = mq.role_of(session=session, user_id=row.id, brand_id=brand_id)
    _check_admin_change(actor, before, role)
    mq.set_role(session=session, user_id=row.id, brand_id=brand_id, role=role)
    _record_change(session, actor, str(key), brand_id, before, role)
    return MemberChange(str(key), brand_id, before, role)


def remove_member(session: Session, actor: Principal, *, brand_id: int,
                  user: str) -> MemberChange:
    """Remove a user from the brand.

    Raises:
        AccessDenied: the actor may not; NotFoundError: the user is no member.
    """
    require(actor, Permission.MEMBERS, brand_id, what="changing the brand's members")
    key = mq.UserKey.parse(user)
    row = mq.find_user(session=session, key=key)
    before = None if row is None else mq.role_of(session=session, user_id=row.id,
                                                  brand_id=brand_id)
    if row is None or before is None:
        raise NotFoundError(f"{key} is not a member of this brand")
    _check_admin_change(actor, before)
    mq.remove_membership(session=session, user_id=row.id, brand_id=brand_id)
    _record_change(session, actor, str(key), brand_id, before, None)
    return MemberChange(str(key), brand_id, before, None)


def set_owner(session: Session, actor: Principal, *, user: str, owner: bool) -> str:
    """Make a user (by email or subject) a workspace owner, or no longer one; returns
    the user's name. Only owners may."""
    require(actor, Permission.MANAGE_ADMINS, what="naming workspace owners")
    key = mq.UserKey.parse(user)
    row = mq.get_or_create_user(session=session, key=key)
    mq.set_owner(session=session, user_id=row.id, owner=owner)
    audit.record(session, actor, AuditAction.MEMBERSHIP_CHANGE, object_kind=ObjectKind.USER,
                 object_id=key, details={"owner": owner})
    return str(key)


def create_brand(session: Session, actor: Principal, *, name: str) -> Brand:
    """Create a brand (owners only); an existing one is returned as it is."""
    require(actor, Permission.MANAGE_BRANDS, what=f"creating the brand {name!r}")
    existed = brand_id_by_name(session, name=name.strip()) is not None
    brand = get_or_create_brand(session, name=name)
    if not existed:
        audit.record(session, actor, AuditAction.MEMBERSHIP_CHANGE, brand_id=brand.id,
                     object_kind=ObjectKind.BRAND, object_id=brand.id,
                     details={"created": brand.name})
    return brand


def check_upload(session: Session, actor: Principal, *, brand: str) -> None:
    """Refuse unless the actor may upload into the brand called ``brand`` (a name that
    is no brand yet: unless they may create brands)."""
    brand_id = brand_id_by_name(session, name=brand.strip())
    if (actor.can(Permission.UPLOAD, brand_id) if brand_id is not None
            else actor.can(Permission.MANAGE_BRANDS)):
        return
    # one message whether the brand exists or not: a refusal tells nothing of other brands
    raise AccessDenied(f"Access refused: you may not upload into {brand.strip()!r}. Uploading "
                       "needs the analyst role in that brand; a new brand needs a workspace "
                       "owner.")
