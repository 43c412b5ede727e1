"""Roles and permissions (the README's role table), sign-in identities and group claims, and
membership changes with who may make them (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from brandmood.core.access import (
    AccessDenied,
    BrandScope,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    is_loopback,
)
from brandmood.services import access
from db.models import User
from db.queries.core import NotFoundError, get_or_create_brand

P = Permission
# the role table of the issue, written out: what each role may do in its brand
TABLE = {
    Role.VIEWER: {P.VIEW},
    Role.ANALYST: {P.VIEW, P.UPLOAD, P.INGEST, P.REVIEW, P.EXPORT_FACES},
    Role.ADMIN: {P.VIEW, P.UPLOAD, P.INGEST, P.REVIEW, P.EXPORT_FACES, P.SETTINGS, P.MODELS,
                 P.MEMBERS, P.ERASE},
}


def user(*roles: tuple[int, Role], owner: bool = False) -> Principal:
    return Principal(PrincipalKind.USER, subject="s", email="u@x.test", roles=roles,
                     owner=owner)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_exactly_its_row_of_the_table_and_only_in_its_brand(role):
    p = user((1, role))
    assert {perm for perm in Permission if p.can(perm, 1)} == TABLE[role]
    assert not any(p.can(perm, 2) for perm in Permission)  # another brand: nothing
    assert not any(p.can(perm) for perm in Permission)  # workspace-wide: owners only
    assert p.allowed_brands() == BrandScope.of([1])
    assert p.allowed_brands(Role.ANALYST) == (BrandScope.of([1]) if role is not Role.VIEWER
                                              else BrandScope.NONE)


def test_owners_and_operators_may_everything_everywhere():
    for p in (user(owner=True), access.local_admin(), access.cli_operator(),
              Principal(PrincipalKind.SYSTEM)):
        assert p.is_owner and p.allowed_brands(P.ERASE) == BrandScope.ALL
        assert p.can(P.MANAGE_ADMINS) and p.can(P.SETTINGS) and p.can(P.MEMBERS, 99)


def test_refusals_name_what_is_needed():
    viewer = user((1, Role.VIEWER), (2, Role.ANALYST))
    with pytest.raises(AccessDenied, match="reviewing needs the analyst role in this brand"):
        viewer.require(P.REVIEW, 1)
    viewer.require(P.REVIEW, 2)
    with pytest.raises(AccessDenied, match="needs a workspace owner"):
        user((1, Role.ADMIN)).require(P.SETTINGS)
    assert viewer.allowed_brands(P.UPLOAD) == BrandScope.of([2])


def test_loopback_addresses():
    assert all(is_loopback(a) for a in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(a) for a in ("0.0.0.0", "::", "10.0.0.5", "example.com", "",
                                            None))


def test_identity_from_claims():
    who = access.Identity.from_claims(
        {"sub": "abc", "email": "Ana@Example.COM", "name": "Ana", "roles": "brand:x:viewer",
         "iat": 1796195714}, groups_claim="roles")
    assert (who.subject, who.email, who.display_name, who.groups, who.issued_at) == \
        ("abc", "ana@example.com", "Ana", ("brand:x:viewer",), 1796195714)
    assert access.Identity.from_claims({"sub": "x", "groups": {"not": "a list"}},
                                       groups_claim="groups").groups == ()
    unverified = access.Identity.from_claims({"sub": "abc", "email": "a@x.test",
                                              "email_verified": False}, groups_claim="groups")
    assert unverified.email == ""  # an unverified email never matches an invitation
    with pytest.raises(AccessDenied):
        access.Identity.from_claims({"email": "a@x.test"}, groups_claim="groups")


def test_group_claims_grant_roles_in_known_brands_only():
    brands = {"Acme": 1, "Acme: Europe": 2, "Beta": 3}
    got = access.group_roles(["brand:Acme:analyst", "brand:Acme: Europe:admin",
                              "brand:Beta:owner", "brand:Nope:viewer", "Acme:viewer",
                              "brandmood:owner", "brand:Beta:viewer"], brands)
    assert sorted(got) == [(1, Role.ANALYST), (2, Role.ADMIN), (3, Role.VIEWER)]


@pytest.fixture
def brands(any_ws):
    with any_ws.sessions.begin() as s:
        ids = {n: get_or_create_brand(s, name=n).id for n in ("Acme", "Beta")}
    return any_ws, ids


def _who(sub: str, email: str = "", groups=()) -> access.Identity:
    return access.Identity(sub, email, "", tuple(groups))


def test_an_email_invitation_binds_the_first_subject_that_signs_in(brands):
    ws, ids = brands
    op = access.cli_operator()
    with ws.sessions.begin() as s:
        change = access.set_member(s, op, brand_id=ids["Acme"], user="Ana@X.test",
                                   role=Role.ANALYST)
        assert (change.user, change.before, change.after) == ("ana@x.test", None, Role.ANALYST)
    with ws.sessions.begin() as s:
        ana = access.sign_in(s, _who("sub-ana", "ana@x.test", ["brand:Beta:viewer"]))
        assert ana.roles == tuple(sorted([(ids["Acme"], Role.ANALYST),
                                          (ids["Beta"], Role.VIEWER)]))
    with ws.sessions.begin() as s:
        # another subject with the same email does not get Ana's roles
        assert access.sign_in(s, _who("sub-mallory", "ana@x.test")).roles == ()
        assert access.principal_for(s, _who("sub-ana")).role_in(ids["Acme"]) is Role.ANALYST
        # nobody invited a stranger: no row is stored for them
        assert access.sign_in(s, _who("sub-stranger", "s@x.test")).user_id is None
        assert s.scalar(select(func.count(User.id))) == 1


def test_stored_and_group_roles_merge_to_the_stronger(brands):
    ws, ids = brands
    with ws.sessions.begin() as s:
        access.set_member(s, access.cli_operator(), brand_id=ids["Acme"], user="sub-1",
                          role=Role.ADMIN)
        p = access.sign_in(s, _who("sub-1", groups=["brand:Acme:viewer", "brandmood:owner"]))
    assert p.role_in(ids["Acme"]) is Role.ADMIN and p.is_owner


def test_brand_admins_manage_viewers_and_analysts_not_admins(brands):
    ws, ids = brands
    op = access.cli_operator()
    with ws.sessions.begin() as s:
        access.set_member(s, op, brand_id=ids["Acme"], user="boss@x.test", role=Role.ADMIN)
        access.set_member(s, op, brand_id=ids["Acme"], user="other-admin", role=Role.ADMIN)
        admin = access.sign_in(s, _who("sub-boss", "boss@x.test"))
        change = access.set_member(s, admin, brand_id=ids["Acme"], user="v@x.test",
                                   role=Role.VIEWER)
        assert change.before is None
        assert access.set_member(s, admin, brand_id=ids["Acme"], user="v@x.test",
                                 role=Role.ANALYST).before is Role.VIEWER
        for bad in (lambda: access.set_member(s, admin, brand_id=ids["Acme"], user="v@x.test",
                                              role=Role.ADMIN),
                    lambda: access.set_member(s, admin, brand_id=ids["Acme"],
                                              user="other-admin", role=Role.VIEWER),
                    lambda: access.remove_member(s, admin, brand_id=ids["Acme"],
                                                 user="other-admin"),
                    lambda: access.set_member(s, admin, brand_id=ids["Beta"], user="v@x.test",
                                              role=Role.VIEWER),
                    lambda: access.set_owner(s, admin, user="v@x.test", owner=True),
                    lambda: access.create_brand(s, admin, name="Gamma")):
            with pytest.raises(AccessDenied):
                bad()
        assert [(m.label, m.role) for m in access.members(s, admin, brand_id=ids["Acme"])] \
            == [("boss@x.test", Role.ADMIN), ("other-admin", Role.ADMIN),
                ("v@x.test", Role.ANALYST)]
        access.remove_member(s, admin, brand_id=ids["Acme"], user="V@X.test")
        with pytest.raises(NotFoundError):
            access.remove_member(s, admin, brand_id=ids["Acme"], user="v@x.test")
        analyst = user((ids["Acme"], Role.ANALYST))
        with pytest.raises(AccessDenied):
            access.members(s, analyst, brand_id=ids["Acme"])
        with pytest.raises(ValueError):
            access.set_member(s, op, brand_id=ids["Acme"], user="  ", role=Role.VIEWER)


def test_upload_refusal_tells_nothing_about_other_brands(brands):
    ws, ids = brands
    analyst = user((ids["Acme"], Role.ANALYST))
    with ws.session() as s:
        access.check_upload(s, analyst, brand="Acme")
        messages = set()
        for name in ("Beta", "Not a brand yet"):
            with pytest.raises(AccessDenied) as err:
                access.check_upload(s, analyst, brand=name)
            messages.add(str(err.value).replace(name, "X"))
        assert len(messages) == 1
        access.check_upload(s, user(owner=True), brand="Not a brand yet")
        with pytest.raises(AccessDenied):
            access.check_upload(s, user((ids["Acme"], Role.VIEWER)), brand="Acme")
