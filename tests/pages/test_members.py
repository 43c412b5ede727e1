"""Members page: a brand admin invites, changes a role and removes; the admin role and the
workspace section are the owner's; changes land in the database."""

from __future__ import annotations

from sqlalchemy import select

from brandmood.core.access import Role
from brandmood.services import access
from db.models import Membership, User
from tests.pages.conftest import run_page

ADMIN = {"sub": "admin-sub", "email": "admin@acme.test"}


def _roles(ws, brand_id: int) -> dict[str, str]:
    with ws.session() as s:
        rows = s.execute(select(User.email, User.subject, Membership.role)
                         .join(Membership, Membership.user_id == User.id)
                         .where(Membership.brand_id == brand_id))
        return {email or subject: role.value for email, subject, role in rows}


def test_a_brand_admin_invites_changes_and_removes(filled):
    acme = filled.ids["brand"]
    with filled.ws.sessions.begin() as s:
        access.set_member(s, access.cli_operator(), brand_id=acme, user="admin@acme.test",
                          role=Role.ADMIN)
    at = run_page("members.py", user=ADMIN)
    assert [t.value for t in at.title] == ["Members"]
    assert at.selectbox(key="mb_brand").options == ["Acme"]  # not the other brand
    assert at.selectbox(key="mb_role").options == ["viewer", "analyst"]  # admin: owners
    assert "mb_owner_user" not in {w.key for w in at.text_input}  # the owners' section
    at.text_input(key="mb_user").set_value("New@Acme.test")
    at.selectbox(key="mb_role").set_value(Role.VIEWER)
    at.button(key="FormSubmitter:mb_invite-Invite").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["new@acme.test is now viewer of Acme."]
    assert _roles(filled.ws, acme) == {"admin@acme.test": "admin", "new@acme.test": "viewer"}
    at.selectbox(key="mb_who").set_value("new@acme.test")
    at.selectbox(key="mb_new").set_value(Role.ANALYST)
    at.button(key="FormSubmitter:mb_change-Change role").click().run()
    assert [s.value for s in at.success] == ["new@acme.test: viewer → analyst in Acme."]
    assert _roles(filled.ws, acme)["new@acme.test"] == "analyst"
    # demoting the other admin (here: themself) is the owner's
    at.selectbox(key="mb_who").set_value("admin@acme.test")
    at.selectbox(key="mb_new").set_value(Role.VIEWER)
    at.button(key="FormSubmitter:mb_change-Change role").click().run()
    assert "needs a workspace owner" in at.error[0].value
    assert _roles(filled.ws, acme)["admin@acme.test"] == "admin"
    at.selectbox(key="mb_who").set_value("new@acme.test")
    at.button(key="FormSubmitter:mb_change-Remove from brand").click().run()
    assert _roles(filled.ws, acme) == {"admin@acme.test": "admin"}


def test_the_local_admin_is_owner_and_creates_brands(filled):
    at = run_page("members.py")
    assert set(at.selectbox(key="mb_brand").options) == {"Acme", "Other"}
    assert "admin" in at.selectbox(key="mb_role").options
    at.text_input(key="mb_new_brand").set_value("Gamma")
    at.button(key="FormSubmitter:mb_brand-Create brand").click().run()
    assert [s.value for s in at.success] == ["Brand Gamma is ready: invite its members above."]
    at.text_input(key="mb_owner_user").set_value("boss@acme.test")
    at.button(key="FormSubmitter:mb_owner-Save owner").click().run()
    assert "boss@acme.test is now an owner." in [s.value for s in at.success]
