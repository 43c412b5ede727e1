"""Erasure and retention in the pages: an Erase section on the Ambassadors page (admins of
the brand) and a Privacy and retention section on the Settings page (owners).

Erasure asks for the ambassador's name typed again before it runs, then shows the receipt
(an opaque id and counts, no name). Every cached result is dropped afterwards, so no page
shows what is gone.
"""

from __future__ import annotations

import streamlit as st

from brandmood.core.access import AccessDenied, Permission, refusal
from brandmood.services import erasure
from brandmood.services.retention import RetentionPolicy, apply_retention
from brandmood.ui import auth
from brandmood.ui.data import workspace
from db.queries import identity as iq
from db.queries.consent import ConsentError
from db.queries.core import NotFoundError, list_brands
from db.queries.erasure import MatchedFaces, recent_erasures

RECEIPT_KEY = "bm_erasure_receipt"
MODES = {MatchedFaces.REMOVE: "remove their faces from every count",
         MatchedFaces.DETACH: "keep their faces as anonymous faces (emotions still counted)"}


def erase_ambassador_section() -> None:
    """Pick an ambassador of a brand the user administers, confirm by name, erase."""
    scope = auth.scope(Permission.ERASE)
    if scope.is_empty:
        return
    with auth.session(Permission.ERASE) as s:
        brands = {b.name: b.id for b in list_brands(session=s, scope=scope)}
        people = {name: [a.name for a in iq.list_ambassadors(session=s, brand_id=bid)]
                  for name, bid in brands.items()}
    st.subheader("Erase an ambassador")
    receipt = st.session_state.get(RECEIPT_KEY)
    if receipt:
        st.success("Erased. Receipt (no personal data; kept in the erasure log):")
        st.json(receipt)
    erase_face_form()
    with st.expander("Erase an ambassador for good (right to be forgotten; admins)"):
        st.caption("Removes their reference photos' embeddings, every embedding and crop of "
                   "the faces matched to them, their consent records and the ambassador "
                   "record, and recomputes every count. It cannot be undone.")
        brand = st.selectbox("Brand", list(brands), key="erase_brand")
        names = people.get(brand, []) if brand else []
        if not names:
            st.caption("This brand has no ambassadors.")
            return
        name = st.selectbox("Ambassador", names, key="erase_name")
        mode = st.radio("The faces matched to them", list(MODES), format_func=MODES.get,
                        index=list(MODES).index(erasure.matched_faces_setting(workspace())),
                        key="erase_matched")
        typed = st.text_input("Type the ambassador's name to confirm", key="erase_confirm")
        if st.button("Erase for good", type="primary", key="erase_go",
                     disabled=typed.strip() != name):
            _erase(brand, name, MatchedFaces(mode))


def erase_face_form() -> None:
    """Erase the person one face shows (a face id from the Review or Assets page): their
    ambassador and every face matched to them, or an unmatched face alone."""
    if auth.scope(Permission.ERASE).is_empty:
        return
    with st.expander("Erase the person a face shows (by face id; admins)"):
        face_id = st.number_input("Face id (shown as #id on the Assets and Review pages)",
                                  min_value=1, step=1, value=None, key="erase_face_id")
        sure = st.checkbox("Erase this person and every face matched to them, for good",
                           key="erase_face_sure")
        if st.button("Erase the person", key="erase_face_go",
                     disabled=not (sure and face_id)):
            try:
                receipt = erasure.erase_face(workspace(), auth.principal(),
                                             face_id=int(face_id))
            except (AccessDenied, NotFoundError):  # one answer: exists elsewhere, or not
                st.error(refusal("this face"))
                return
            st.session_state[RECEIPT_KEY] = receipt.as_dict()
            st.cache_data.clear()
            st.rerun()


def _erase(brand: str, name: str, mode: MatchedFaces) -> None:
    try:
        receipt = erasure.erase_ambassador(workspace(), auth.principal(), brand=brand,
                                           name=name, matched=mode)
    except (AccessDenied, NotFoundError, ConsentError) as exc:
        st.error(str(exc))
        return
    st.session_state[RECEIPT_KEY] = receipt.as_dict()
    st.cache_data.clear()
    st.rerun()


def retention_section() -> None:
    """Owners: the retention policy (dry run, then apply) and the erasure log."""
    if not auth.may(Permission.ERASE):
        return
    ws = workspace()
    st.subheader("Privacy and retention")
    configured = RetentionPolicy.configured(ws)
    st.caption("Configured: media kept "
               + (f"{configured.media_days} days after analysis" if configured.media_days
                  else "until erased") + "; everything kept "
               + (f"{configured.all_days} days" if configured.all_days else "until erased")
               + " (BRANDMOOD_RETENTION_MEDIA_DAYS, BRANDMOOD_RETENTION_ALL_DAYS; "
                 "`brandmood retention apply` runs it on a schedule). See docs/privacy.md.")
    c1, c2 = st.columns(2)
    media_days = c1.number_input("Remove media, thumbnails and crops after (days since "
                                 "analysis; 0: keep)", 0, 36500,
                                 configured.media_days or 0, key="ret_media")
    all_days = c2.number_input("Erase assets stored more than (days; 0: keep)", 0, 36500,
                               configured.all_days or 0, key="ret_all")
    policy = RetentionPolicy(int(media_days) or None, int(all_days) or None)
    if policy.media_days is None and policy.all_days is None:
        st.caption("Nothing to apply: both are set to keep.")
    else:
        dry = apply_retention(ws, auth.principal(), policy=policy, dry_run=True)
        st.write("  \n".join(dry.lines()))
        sure = st.checkbox("I understand this removes media for good", key="ret_sure")
        if st.button("Apply retention now", key="ret_go", disabled=not sure):
            done = apply_retention(ws, auth.principal(), policy=policy)
            st.cache_data.clear()
            st.success("  \n".join(done.lines()))
    with ws.session() as s:
        log = recent_erasures(session=s)
    st.caption("Erasure log (newest first; subjects by opaque id)")
    st.dataframe([{"when": e.erased_at, "kind": e.kind.value, "subject": e.subject[:16] + "…",
                   "by": e.erased_by, "counts": e.counts} for e in log], hide_index=True)
