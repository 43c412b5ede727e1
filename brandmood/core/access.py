"""Who may do what: roles, permissions, the brand scope and the acting principal.

Pure values, no database: :mod:`brandmood.services.access` builds a :class:`Principal`
from a sign-in (or the local operator) and the stored memberships; the query layer takes
a :class:`BrandScope` (``principal.allowed_brands(...)``) and reads nothing outside it.

Roles are per brand and nest: a viewer sees dashboards and reports; an analyst also
uploads, ingests, reviews and exports faces; an admin also manages the brand's members,
settings, models and erasure. A workspace owner (and the local operator: the embedded
server on 127.0.0.1 without sign-in, the command line) may do everything in every brand,
and alone what is workspace-wide: brands, admins, and the settings and models that every
brand shares (``can(permission)`` without a brand).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar


def is_loopback(address: str | None) -> bool:
    """Whether a server address or URL host is a loopback one (``localhost``,
    ``127.0.0.0/8``, ``::1``); unset or any other name: no."""
    if not address:
        return False
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


class AccessDenied(PermissionError):
    """The principal may not do this; the message says what was refused, in one line."""


class Role(enum.StrEnum):
    """A member's role in one brand, weakest first."""

    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Permission(enum.StrEnum):
    """One thing a principal may do (in a brand, or workspace-wide)."""

    VIEW = "view"
    """Dashboards, the gallery, reports (assets CSV, PDF)."""
    UPLOAD = "upload"
    INGEST = "ingest"
    """Ingest and analysis jobs, retries."""
    REVIEW = "review"
    """Review labels, ambassador enrolment and matches."""
    EXPORT_FACES = "export_faces"
    """Face-level exports (faces CSV, the workbook's Faces sheet)."""
    SETTINGS = "settings"
    MODELS = "models"
    MEMBERS = "members"
    """Add, change and remove the brand's viewers and analysts."""
    ERASE = "erase"
    MANAGE_ADMINS = "manage_admins"
    """Grant, change or revoke the admin role (owner)."""
    MANAGE_BRANDS = "manage_brands"
    """Create brands (owner)."""

    @property
    def action(self) -> str:
        """The permission in words, as a refusal names it (``"reviewing"``)."""
        return _ACTIONS[self]


_ACTIONS = {
    Permission.VIEW: "seeing dashboards and reports", Permission.UPLOAD: "uploading",
    Permission.INGEST: "running ingest and analysis jobs", Permission.REVIEW: "reviewing",
    Permission.EXPORT_FACES: "exporting faces", Permission.SETTINGS: "changing settings",
    Permission.MODELS: "managing models", Permission.MEMBERS: "managing members",
    Permission.ERASE: "erasing data", Permission.MANAGE_ADMINS: "managing admins and owners",
    Permission.MANAGE_BRANDS: "creating brands"}


_VIEWER = frozenset({Permission.VIEW})
_ANALYST = _VIEWER | {Permission.UPLOAD, Permission.INGEST, Permission.REVIEW,
                      Permission.EXPORT_FACES}
_ADMIN = _ANALYST | {Permission.SETTINGS, Permission.MODELS, Permission.MEMBERS,
                     Permission.ERASE}
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER, Role.ANALYST: _ANALYST, Role.ADMIN: _ADMIN}
"""What each role may do in its brand (the README's role table)."""


def lowest_role(permission: Permission) -> Role | None:
    """The weakest role that grants ``permission`` (None: owners only)."""
    return next((r for r in Role if permission in ROLE_PERMISSIONS[r]), None)


@dataclass(frozen=True)
class BrandScope:
    """The brands a read may touch: a set of brand ids, or every brand (:attr:`ALL`).

    Hashable, so it keys cached results together with the filters that carry it.
    """

    ids: frozenset[int] | None
    """None: every brand."""

    ALL: ClassVar[BrandScope]
    NONE: ClassVar[BrandScope]

    @classmethod
    def of(cls, ids: Iterable[int]) -> BrandScope:
        return cls(frozenset(int(i) for i in ids))

    @property
    def is_all(self) -> bool:
        return self.ids is None

    @property
    def is_empty(self) -> bool:
        return self.ids is not None and not self.ids

    def allows(self, brand_id: int) -> bool:
        """Whether the brand ``brand_id`` lies in the scope."""
        return self.ids is None or brand_id in self.ids

    def check(self, brand_id: int | None, what: str = "this brand") -> None:
        """Raise :class:`AccessDenied` unless ``brand_id`` lies in the scope (None: a
        brand that does not exist, refused alike).

        The message reads the same whether the thing exists or not, so that a refusal
        tells nothing about other brands.
        """
        if brand_id is None or not self.allows(brand_id):
            raise AccessDenied(refusal(what))


def refusal(what: str) -> str:
    """The one refusal text for something outside the caller's brands (or missing)."""
    return (f"Access refused: {what} is not available to you (it does not exist, or it "
            "belongs to a brand you may not see).")


BrandScope.ALL = BrandScope(None)
BrandScope.NONE = BrandScope(frozenset())


class PrincipalKind(enum.StrEnum):
    """How a principal came to act."""

    USER = "user"
    """Signed in through the identity provider."""
    LOCAL_ADMIN = "local admin"
    """The embedded server without sign-in (127.0.0.1 only, or the explicit override)."""
    CLI = "cli"
    """The command line, as the operating-system user."""
    SYSTEM = "system"
    """A job the app runs by itself."""


OPERATOR_KINDS = frozenset({PrincipalKind.LOCAL_ADMIN, PrincipalKind.CLI,
                            PrincipalKind.SYSTEM})


@dataclass(frozen=True)
class Principal:
    """Who acts, and their roles.

    Attributes:
        kind: how they came to act; local admin, CLI and system act as owners.
        subject: the identity provider's ``sub`` (a user), or the OS user name (CLI).
        email: lower-case email, where known.
        display_name: a name to show.
        owner: a workspace owner (every brand, and what is workspace-wide).
        roles: ``(brand id, role)`` pairs, one per brand (stored and group memberships
            merged, the stronger role kept).
        user_id: the stored user row, where there is one.
    """

    kind: PrincipalKind
    subject: str = ""
    email: str = ""
    display_name: str = ""
    owner: bool = False
    roles: tuple[tuple[int, Role], ...] = field(default=())
    user_id: int | None = None

    @property
    def is_owner(self) -> bool:
        return self.owner or self.kind in OPERATOR_KINDS

    @property
    def label(self) -> str:
        """How audit lines and the sidebar name the principal."""
        who = self.email or self.subject or self.display_name
        if self.kind is PrincipalKind.USER:
            return who or "unknown user"
        return f"{self.kind.value}:{who}" if who else self.kind.value

    def role_in(self, brand_id: int) -> Role | None:
        """The principal's role in the brand (None: no membership; owners: None too)."""
        return dict(self.roles).get(brand_id)

    def can(self, permission: Permission, brand_id: int | None = None) -> bool:
        """Whether the principal may do ``permission`` in the brand ``brand_id``.

        ``brand_id`` None asks for the whole workspace, which only owners hold.
        """
        if self.is_owner:
            return True
        if brand_id is None:
            return False
        role = self.role_in(brand_id)
        return role is not None and permission in ROLE_PERMISSIONS[role]

    def allowed_brands(self, need: Permission | Role = Permission.VIEW) -> BrandScope:
        """The brands where the principal holds ``need`` (a permission, or at least a role)."""
        if self.is_owner:
            return BrandScope.ALL
        if isinstance(need, Role):
            return BrandScope.of(b for b, r in self.roles if r.rank >= need.rank)
        return BrandScope.of(b for b, r in self.roles if need in ROLE_PERMISSIONS[r])

    def require(self, permission: Permission, brand_id: int | None = None, *,
                what: str | None = None) -> None:
        """Raise :class:`AccessDenied` unless :meth:`can`; the message names what is needed."""
        if self.can(permission, brand_id):
            return
        role = lowest_role(permission)
        need = ("a workspace owner" if brand_id is None or role is None
                else f"the {role.value} role in this brand")
        raise AccessDenied(f"Access refused: {what or permission.action} needs {need}.")


def merge_roles(*sources: Iterable[tuple[int, Role]]) -> tuple[tuple[int, Role], ...]:
    """One role per brand from several sources (stored, group claims): the strongest."""
    best: dict[int, Role] = {}
    for source in sources:
        for brand_id, role in source:
            if brand_id not in best or role.rank > best[brand_id].rank:
                best[brand_id] = role
    return tuple(sorted(best.items()))
