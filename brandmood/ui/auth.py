"""Who is using the dashboard: sign-in, the current principal, their brand scope, refusals.

Sign-in is on when Streamlit's secrets hold an ``[auth]`` section, which ``brandmood
serve`` writes from the settings (``BRANDMOOD_OIDC_*``, README "Sign-in"). Without it the
app has one user, the local admin, and only while it listens on a loopback address (or
with the explicit ``BRANDMOOD_INSECURE_NO_SIGN_IN_ON_TRUSTED_NETWORK`` override).

``app.py`` calls :func:`gate` first on every run; pages then use :func:`principal`,
:func:`scope` (the brands a permission reaches: pass it to every query),
:func:`session` (a database session that sees only those brands) and :func:`require`
(a refusal shown as a clear message, and the page stops).
"""

from __future__ import annotations

from typing import NoReturn

import streamlit as st
from sqlalchemy.orm import Session

from brandmood.core.access import (
    AccessDenied,
    BrandScope,
    Permission,
    Principal,
    PrincipalKind,
    is_loopback,
)
from brandmood.core.audit import AuditAction
from brandmood.core.settings import load_config
from brandmood.services import access, audit
from brandmood.ui.data import workspace
from db.scoping import restrict

PRINCIPAL_KEY = "bm_principal"
SIGNED_IN_KEY = "bm_signed_in_subject"


def sign_in_enabled() -> bool:
    """Whether Streamlit is configured for OpenID Connect sign-in (an ``[auth]`` secret)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all
        return False


def show_refusal(message: str | AccessDenied) -> None:
    """Show a refusal (a URL naming another brand or its rows, a page or an action the
    role lacks): every refusal the app shows passes here."""
    st.error(str(message), icon=":material/block:")


def refuse(message: str | AccessDenied) -> NoReturn:
    """Show a refusal and stop the run."""
    show_refusal(message)
    st.stop()


def _sign_in_page() -> NoReturn:
    st.session_state.pop(SIGNED_IN_KEY, None)
    st.session_state.pop(PRINCIPAL_KEY, None)
    st.title("brandmood")
    st.write("Sign in with your organization's account to see your brands.")
    st.button("Sign in", type="primary", on_click=st.login, key="bm_sign_in")
    st.stop()


def _signed_in() -> Principal:
    """The signed-in person's principal; a browser session's first run records the
    sign-in (or its refusal) in the audit trail, and too many refused sign-ins of one
    user are refused before anything else (``BRANDMOOD_MAX_SIGN_IN_FAILURES``)."""
    cfg = load_config()
    try:
        identity = access.Identity.from_claims(st.user.to_dict(),
                                               groups_claim=cfg.oidc_groups_claim)
    except AccessDenied as exc:
        with workspace().sessions.begin() as s:
            audit.record(s, "unknown user", AuditAction.SIGN_IN_FAILED,
                         details={"reason": "no subject"})
        refuse(exc)
    if st.session_state.get(SIGNED_IN_KEY) == identity.subject:
        with workspace().session() as s:
            return access.principal_for(s, identity)
    name = identity.email or identity.subject
    try:
        audit.enforce(workspace().sessions, name, audit.sign_in_limit(cfg))
    except audit.RateLimited as exc:
        refuse(f"Sign-in refused: {exc}")
    with workspace().sessions.begin() as s:
        who = access.sign_in(s, identity)
    st.session_state[SIGNED_IN_KEY] = identity.subject
    return who


def gate() -> Principal:
    """Who is here, for this run; a sign-in page or a refusal (the run stops) otherwise."""
    if not sign_in_enabled():
        address = st.get_option("server.address")
        if not is_loopback(address) and not load_config().insecure_no_sign_in:
            refuse(f"This server listens on {address or 'every address'} without sign-in, so "
                   "anyone who reaches it would see every brand. Configure sign-in "
                   "(BRANDMOOD_OIDC_METADATA_URL and friends, README: Sign-in) or serve on "
                   "127.0.0.1 (`brandmood serve`).")
        who = access.local_admin()
    elif not st.user.is_logged_in:
        _sign_in_page()
    else:
        who = _signed_in()
    st.session_state[PRINCIPAL_KEY] = who
    return who


def principal() -> Principal:
    """The principal of this run (:func:`gate`'s; a page run alone resolves it here)."""
    found = st.session_state.get(PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else gate()


def scope(permission: Permission = Permission.VIEW) -> BrandScope:
    """The brands where the current principal holds ``permission``: give it to queries."""
    return principal().allowed_brands(permission)


def session(permission: Permission = Permission.VIEW) -> Session:
    """A workspace session whose ORM reads see only :func:`scope`'s brands (a safety net
    under the queries' own scope)."""
    return restrict(workspace().session(), scope(permission))


def may(permission: Permission, brand_id: int | None = None) -> bool:
    """Whether the principal may do ``permission`` in the brand (None: workspace-wide)."""
    return principal().can(permission, brand_id)


def require(permission: Permission, brand_id: int | None = None, *,
            what: str | None = None) -> None:
    """Refuse with a clear message (the run stops) unless the principal may."""
    try:
        access.require(principal(), permission, brand_id, what=what)
    except AccessDenied as exc:
        refuse(exc)


def check_upload(brand: str) -> None:
    """Raise :class:`AccessDenied` unless the user may upload into the brand called
    ``brand`` (a new name: unless they may create brands)."""
    with workspace().session() as s:
        access.check_upload(s, principal(), brand=brand)


def reviewer_name() -> str:
    """The name stored with a review: the signed-in user's ("" for the local admin)."""
    p = principal()
    return p.label if p.kind is PrincipalKind.USER else ""


def sidebar_identity() -> None:
    """Who is signed in, and a sign-out button (or the no-sign-in notice)."""
    p = principal()
    with st.sidebar.container(key="identity"):
        if sign_in_enabled():
            st.caption(f"Signed in as **{p.display_name or p.label}**"
                       + (f" ({p.email})" if p.email and p.display_name else "")
                       + (" · workspace owner" if p.is_owner else ""))
            st.button("Sign out", on_click=st.logout, key="bm_sign_out")
        elif is_loopback(st.get_option("server.address")):
            st.caption("Local admin: no sign-in, this server listens on this computer only.")
        else:
            st.warning("No sign-in on a network address: everyone who reaches this server "
                       "is an admin of every brand.")
