"""The Responsible use page's view (intended use and its confirmation, legal points, model
card, disclosure), and the banner every page shows until the intended use is confirmed."""

from __future__ import annotations

import streamlit as st

from brandmood.core.access import Permission
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.services import audit
from brandmood.services import model_card as mc
from brandmood.services import responsible_use as ru
from brandmood.ui import auth
from brandmood.ui.data import workspace
from db.queries.core import list_brand_names
from db.queries.review import SettingKey, get_setting


def intended_use_banner() -> None:
    """On every page until an admin confirms the intended use: say so, link the page."""
    with workspace().session() as s:
        needed = ru.needs_confirmation(session=s)
    if not needed:
        return
    st.info("**Intended use not confirmed yet.** brandmood is for analysing a brand's "
            "published content in aggregate, never for monitoring people at work or in "
            "education. An administrator confirms this once: open **Responsible use** in the "
            "sidebar.", icon=":material/gavel:")


def _bullets(items: tuple[str, ...]) -> None:
    st.markdown("\n".join(f"- {t}" for t in items))


def intended_use_section() -> None:
    """The intended use, its confirmation (who, when, which text) or the form to confirm."""
    st.subheader("Intended use")
    st.markdown(ru.INTENDED_USE)
    st.markdown("**Out of scope** (do not use brandmood for):")
    _bullets(ru.OUT_OF_SCOPE)
    with workspace().session() as s:
        c = ru.confirmation(session=s)
    if c is not None and c.current:
        st.success(f"Intended use confirmed by **{c.by}** on {c.at:%Y-%m-%d %H:%M} UTC "
                   f"(text version {c.version}).", icon=":material/verified:")
        return
    if c is not None:
        st.caption(f"Confirmed earlier by {c.by} on {c.at:%Y-%m-%d} for text version "
                   f"{c.version}; the text has changed since (version "
                   f"{ru.INTENDED_USE_VERSION}).")
    if not ru.can_confirm_intended_use(auth.principal()):
        st.info("An administrator has to confirm the intended use.")
        return
    with st.form("intended_use"):
        who = st.text_input("Your name (administrator)", key="iu_by")
        agree = st.checkbox("I confirm that this workspace is used only as described above, "
                            "and not for any out-of-scope use.", key="iu_agree")
        if st.form_submit_button("Confirm intended use", type="primary"):
            if not agree or not who.strip():
                st.error("Give your name and tick the confirmation.")
                return
            with workspace().sessions.begin() as s:
                ru.confirm_intended_use(session=s, principal=auth.principal(), by=who)
            st.rerun()


def legal_section() -> None:
    st.subheader("EU AI Act")
    _bullets(ru.AI_ACT_POINTS)
    st.subheader("GDPR: what brandmood stores")
    _bullets(ru.GDPR_POINTS)
    st.caption(f"More: {ru.DOCS} in the repository.")


def model_card_section() -> None:
    """Training data, measured accuracy per dataset and class, calibration, known biases."""
    st.subheader("Model card")
    st.dataframe([{"model": m.name, "what": m.what, "training data": m.training_data,
                   "classes": m.classes} for m in mc.MODELS], hide_index=True, key="mc_facts")
    rows = mc.measured()
    if not rows:
        st.info("No accuracy measurement is here yet. Run:\n\n" + "\n\n".join(
            f"`{c}`" for c in mc.ACCURACY_COMMANDS))
    else:
        st.markdown("**Measured accuracy** (`benchmarks/accuracy.py`; ECE: expected "
                    "calibration error over 15 bins, lower means the confidence is closer "
                    "to the real hit rate; uncertain: share flagged by the uncertainty rule)")
        st.dataframe([{"dataset": r.dataset, "images": r.images, "model": r.model,
                       "accuracy": round(r.accuracy, 3), "macro-F1": round(r.macro_f1, 3),
                       "ECE": None if r.ece is None else round(r.ece, 3),
                       "uncertain": None if r.uncertain_share is None
                       else round(r.uncertain_share, 3)} for r in rows],
                     hide_index=True, key="mc_measured")
        st.markdown("**Recall per class**")
        st.dataframe([{"dataset": r.dataset, "model": r.model,
                       **{e: round(v, 2) for e, v in r.per_class_recall.items()}}
                      for r in rows], hide_index=True, key="mc_recall")
        with workspace().session() as s:
            model = get_setting(session=s, key=SettingKey.DEFAULT_MODEL,
                                default=workspace().config.model)
        weak = {d: c for d, c in mc.weak_classes(rows, model).items() if c}
        if weak:
            st.warning(f"The workspace's model ({model}) recognises these classes less than "
                       "30% of the time: " + "; ".join(f"{', '.join(c)} on {d}"
                                                        for d, c in weak.items())
                       + ". Expect them to be under-reported.")
    st.markdown("**Known biases and limits**")
    _bullets(mc.KNOWN_BIASES)


def disclosure_section() -> None:
    """The disclosure's fields (stored in the workspace) and the generated text."""
    st.subheader("Disclosure (AI Act Art. 50(3))")
    st.write("A notice a brand can publish to inform the people in its content. It is built "
             "from these settings and the brand's channels.")
    ws = workspace()
    with ws.session() as s:
        f = ru.disclosure_fields(session=s)
        brands = list_brand_names(session=s, scope=auth.scope())
    if not auth.principal().can(Permission.SETTINGS):
        st.caption("The notice's contact, purpose and retention are workspace settings: a "
                   "workspace owner sets them here.")
    else:
        _disclosure_form(ws, f)
    if not brands:
        st.info("Add a brand first: the notice names it and its channels.")
        return
    brand = st.selectbox("Brand", brands, key="dc_brand")
    with ws.session() as s:
        model = get_setting(session=s, key=SettingKey.DEFAULT_MODEL, default=ws.config.model)
        text = ru.disclosure_text(session=s, brand=brand, scope=auth.scope(), model=model)
        missing = ru.missing_fields(session=s)
    if missing:
        st.warning(f"Not set yet: {', '.join(missing)}.")
    st.markdown(text)
    st.download_button("Download the notice (Markdown)", text, file_name="emotion-notice.md",
                       mime="text/markdown", key="dc_download")
    st.caption("From a terminal: `brandmood disclosure --brand NAME`.")


def _disclosure_form(ws, f: ru.DisclosureFields) -> None:
    with st.form("disclosure"):
        contact = st.text_input("Contact for questions and requests (e-mail or address)",
                                value=f.contact or "", key="dc_contact")
        purpose = st.text_input("Purpose (completes: \"<brand> uses the results …\")",
                                value=f.purpose or "", placeholder=ru.DEFAULT_PURPOSE,
                                key="dc_purpose")
        retention = st.text_area("How long data is kept", value=f.retention or "",
                                 key="dc_retention")
        if st.form_submit_button("Save"):
            with ws.sessions.begin() as s:
                ru.save_disclosure_fields(session=s, fields=ru.DisclosureFields(
                    contact, purpose, retention))
                audit.record(s, auth.principal(), AuditAction.SETTINGS_CHANGE,
                             object_kind=ObjectKind.SETTING, object_id="disclosure",
                             details={"changed": [n for n, old, new in (
                                 ("contact", f.contact, contact), ("purpose", f.purpose, purpose),
                                 ("retention", f.retention, retention))
                                 if (old or "") != (new or "").strip()]})
            st.success("Saved.")


def responsible_use_view() -> None:
    """The whole page below its title and caption."""
    intended_use_section()
    legal_section()
    model_card_section()
    disclosure_section()
