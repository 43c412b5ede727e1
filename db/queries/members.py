"""Users and their roles per brand: look-ups for sign-in, and membership changes.

Who may change what is decided above, in :mod:`brandmood.services.access`; these are
the reads and writes it uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brandmood.core.access import Role
from db.models import Brand, Membership, User, utcnow


@dataclass(frozen=True)
class UserKey:
    """How a user is named: an email (contains ``@``, compared in lower case) or the
    identity provider's subject."""

    subject: str | None = None
    email: str | None = None

    @classmethod
    def parse(cls, text: str) -> UserKey:
        """``"ana@example.com"`` → an email key, anything else → a subject key.

        Raises:
            ValueError: for an empty or over-long name.
        """
        text = text.strip()
        if not text:
            raise ValueError("name the user by email or by the identity provider's subject")
        if len(text) > 255:
            raise ValueError("a user's email or subject is at most 255 characters")
        return cls(email=text.lower()) if "@" in text else cls(subject=text)

    def __str__(self) -> str:
        return self.email or self.subject or ""


@dataclass(frozen=True)
class MemberRow:
    """A member of a brand."""

    user_id: int
    subject: str | None
    email: str | None
    display_name: str
    role: Role
    since: datetime
    last_sign_in_at: datetime | None

    @property
    def label(self) -> str:
        return self.email or self.subject or f"user {self.user_id}"


def find_user(*, session: Session, key: UserKey) -> User | None:
    """The user the key names (by subject or by email), or None."""
    if key.subject is not None:
        return session.scalar(select(User).where(User.subject == key.subject))
    return session.scalar(select(User).where(User.email == key.email))


def get_or_create_user(*, session: Session, key: UserKey) -> User:
    """The user the key names, created (not signed in yet) if missing."""
    user = find_user(session=session, key=key)
    if user is None:
        user = User(subject=key.subject, email=key.email)
        session.add(user)
        session.flush()
    return user


def user_for_sign_in(*, session: Session, subject: str, email: str | None,
                     display_name: str) -> User | None:
    """The stored user a sign-in belongs to, with its subject bound and sign-in time set.

    Found by subject; else by email, where that user has no subject yet (invited by
    email: the first sign-in binds the subject, so the email cannot later move to
    another subject). Users nobody invited are not stored (None).
    """
    user = session.scalar(select(User).where(User.subject == subject))
    if user is None and email:
        user = session.scalar(select(User).where(User.email == email.lower(),
                                                 User.subject.is_(None)))
        if user is not None:
            user.subject = subject
    if user is None:
        return None
    if display_name:
        user.display_name = display_name[:200]
    user.last_sign_in_at = utcnow()
    session.flush()
    return user


def memberships(*, session: Session, user_id: int) -> list[tuple[int, Role]]:
    """``(brand id, role)`` of each brand the user is a member of."""
    rows = session.execute(select(Membership.brand_id, Membership.role)
                           .where(Membership.user_id == user_id))
    return [(int(b), Role(r)) for b, r in rows]


def brand_ids_by_name(*, session: Session) -> dict[str, int]:
    """Every brand's id by its name (to map group claims such as ``brand:acme:analyst``)."""
    return {name: int(i) for i, name in session.execute(select(Brand.id, Brand.name))}


def list_members(*, session: Session, brand_id: int) -> list[MemberRow]:
    """The brand's members, strongest role first, then by email or subject."""
    rows = session.execute(select(User, Membership).join(Membership, Membership.user_id == User.id)
                           .where(Membership.brand_id == brand_id))
    out = [MemberRow(u.id, u.subject, u.email, u.display_name, m.role, m.created_at,
                     u.last_sign_in_at) for u, m in rows]
    return sorted(out, key=lambda r: (-r.role.rank, r.label))


def role_of(*, session: Session, user_id: int, brand_id: int) -> Role | None:
    """The user's stored role in the brand (None: not a member)."""
    return session.scalar(select(Membership.role).where(Membership.user_id == user_id,
                                                        Membership.brand_id == brand_id))


def set_role(*, session: Session, user_id: int, brand_id: int, role: Role) -> None:
    """Make the user a member of the brand with ``role`` (insert or change)."""
    m = session.scalar(select(Membership).where(Membership.user_id == user_id,
                                                Membership.brand_id == brand_id))
    if m is None:
        session.add(Membership(user_id=user_id, brand_id=brand_id, role=role))
    else:
        m.role = role
    session.flush()


def remove_membership(*, session: Session, user_id: int, brand_id: int) -> bool:
    """Remove the user from the brand; False where they were no member."""
    m = session.scalar(select(Membership).where(Membership.user_id == user_id,
                                                Membership.brand_id == brand_id))
    if m is None:
        return False
    session.delete(m)
    session.flush()
    return True


def set_owner(*, session: Session, user_id: int, owner: bool) -> None:
    """Make the user a workspace owner, or no longer one."""
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user {user_id}")
    user.is_owner = owner
    session.flush()


def list_owners(*, session: Session) -> list[User]:
    """The stored workspace owners, by email or subject."""
    users = session.scalars(select(User).where(User.is_owner)).all()
    return sorted(users, key=lambda u: u.email or u.subject or "")
