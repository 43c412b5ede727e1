"""The Members page's views: a brand's members, invitations, role changes, removals; for
owners also the workspace's owners and new brands. Every change goes through
:mod:`brandmood.services.access`, which decides whether the user may make it."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from brandmood.core.access import AccessDenied, Permission, Role
from brandmood.services import access
from brandmood.ui import auth
from brandmood.ui.data import workspace
from brandmood.ui.filters import current_filters
from db.queries.core import NotFoundError, list_brands
from db.queries.members import list_owners

ROLE_HELP = ("viewer: dashboards and reports · analyst: also upload, ingest, review and "
             "face exports · admin: also the brand's members")


def _apply(change: Callable, done: Callable[[object], str]) -> None:
    """Run one change in a transaction; show what it did, or why it was refused."""
    try:
        with workspace().sessions.begin() as s:
            out = change(s)
    except (AccessDenied, NotFoundError, ValueError) as exc:
        st.error(str(exc))
        return
    st.session_state["mb_done"] = done(out)
    st.rerun()


def _roles() -> list[Role]:
    """The roles the user may hand out (admin: owners only)."""
    return [r for r in Role if r is not Role.ADMIN or auth.may(Permission.MANAGE_ADMINS)]


def pick_brand() -> tuple[int, str] | None:
    """The brand whose members to manage: the sidebar's where the user may, else a choice."""
    with auth.session(Permission.MEMBERS) as s:
        brands = {b.id: b.name for b in list_brands(session=s,
                                                    scope=auth.scope(Permission.MEMBERS))}
    if not brands:
        st.info("No brand yet: create one below, or upload into a new brand.")
        return None
    f = current_filters()
    ids = list(brands)
    start = ids.index(f.brand_id) if f is not None and f.brand_id in brands else 0
    brand_id = st.selectbox("Brand", ids, index=start, format_func=brands.get, key="mb_brand")
    return brand_id, brands[brand_id]


def members_view(brand_id: int, brand: str) -> None:
    """The brand's members and the forms that change them."""
    with auth.session(Permission.MEMBERS) as s:
        rows = access.members(s, auth.principal(), brand_id=brand_id)
    if msg := st.session_state.pop("mb_done", None):
        st.success(msg)
    if rows:
        st.dataframe([{"user": r.label, "name": r.display_name, "role": r.role.value,
                       "member since": r.since,
                       "last sign-in": r.last_sign_in_at or "not yet"} for r in rows],
                     hide_index=True, key="mb_table")
    else:
        st.info(f"{brand} has no members yet; workspace owners see every brand.")
    roles = _roles()
    with st.form("mb_invite"):
        st.markdown(f"**Invite to {brand}**")
        c1, c2 = st.columns([2, 1])
        user = c1.text_input("Email, or the identity provider's subject", key="mb_user")
        role = c2.selectbox("Role", roles, format_func=lambda r: r.value, key="mb_role",
                            help=ROLE_HELP)
        if st.form_submit_button("Invite"):
            _apply(lambda s: access.set_member(s, auth.principal(), brand_id=brand_id,
                                               user=user, role=role),
                   lambda c: f"{c.user} is now {c.after.value} of {brand}.")
    if not rows:
        return
    labels = [r.label for r in rows]
    with st.form("mb_change"):
        st.markdown("**Change a role, or remove a member**")
        c1, c2 = st.columns([2, 1])
        who = c1.selectbox("Member", labels, key="mb_who")
        new = c2.selectbox("New role", roles, format_func=lambda r: r.value, key="mb_new")
        b1, b2 = st.columns(2)
        if b1.form_submit_button("Change role"):
            _apply(lambda s: access.set_member(s, auth.principal(), brand_id=brand_id,
                                               user=who, role=new),
                   lambda c: f"{c.user}: {c.before.value if c.before else 'none'} → "
                             f"{c.after.value} in {brand}.")
        if b2.form_submit_button("Remove from brand"):
            _apply(lambda s: access.remove_member(s, auth.principal(), brand_id=brand_id,
                                                  user=who),
                   lambda c: f"{c.user} no longer has access to {brand}.")


def owners_view() -> None:
    """Workspace owners and new brands (owners only)."""
    if not auth.may(Permission.MANAGE_ADMINS):
        return
    st.subheader("Workspace")
    with workspace().session() as s:
        owners = [u.email or u.subject for u in list_owners(session=s)]
    st.caption("Owners see every brand and name admins. "
               + (f"Owners: {', '.join(owners)}." if owners else "No owner stored yet.")
               + " Group claim `brandmood:owner` makes an owner too.")
    with st.form("mb_owner"):
        c1, c2 = st.columns([2, 1])
        user = c1.text_input("Email or subject", key="mb_owner_user")
        remove = c2.toggle("Remove as owner", key="mb_owner_remove")
        if st.form_submit_button("Save owner"):
            _apply(lambda s: access.set_owner(s, auth.principal(), user=user, owner=not remove),
                   lambda name: f"{name} is {'no longer' if remove else 'now'} an owner.")
    if auth.may(Permission.MANAGE_BRANDS):
        with st.form("mb_brand"):
            name = st.text_input("New brand", key="mb_new_brand")
            if st.form_submit_button("Create brand"):
                _apply(lambda s: access.create_brand(s, auth.principal(), name=name),
                       lambda b: f"Brand {b.name} is ready: invite its members above.")
