"""The Settings page's view: workspace, default model, uncertainty threshold."""

from __future__ import annotations

import streamlit as st

from analytics.classifiers.registry import available_models
from analytics.uncertainty import rule_for
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.core.settings import REVIEWS_PER_FACE
from brandmood.services import audit
from brandmood.ui import auth
from brandmood.ui.data import workspace
from db.queries.review import (
    SettingKey,
    clear_setting,
    get_setting,
    reviews_per_face_of,
    set_setting,
    uncertainty_threshold,
)


def model_names() -> tuple[list[str], dict[str, str]]:
    """Registered models (from the classifier registry) and notes."""
    entries = available_models()
    return ([e.name for e in entries],
            {e.name: ("" if e.available else f" (not available: {e.reason})") for e in entries})


def settings_view() -> None:
    """Show where the workspace lives and edit the stored settings."""
    ws = workspace()
    st.subheader("Workspace")
    st.dataframe([{"setting": k, "value": v} for k, v in ws.config.as_dict().items()],
                 hide_index=True)
    with ws.session() as s:
        current_model = get_setting(session=s, key=SettingKey.DEFAULT_MODEL,
                                    default=ws.config.model)
        threshold = uncertainty_threshold(session=s)
        use_reviews = get_setting(session=s, key=SettingKey.USE_REVIEWS) == "1"
        k = reviews_per_face_of(session=s)
    names, notes = model_names()
    st.subheader("Analysis")
    with st.form("settings"):
        if names:
            options = names if current_model in names else [current_model, *names]
            model = st.selectbox("Default emotion model", options,
                                 index=options.index(current_model),
                                 format_func=lambda n: n + notes.get(n, ""), key="set_model")
        else:
            model = st.text_input("Default emotion model", value=current_model, key="set_model")
        own = rule_for(current_model).min_confidence
        use_own = st.checkbox(f"Use each model's own calibrated threshold (for "
                              f"{current_model}: {own:.2f})", value=threshold is None,
                              key="set_own_threshold",
                              help="Chosen by cross-validation so that the faces marked certain "
                                   "reach a stated accuracy (Settings → model quality).")
        thr = st.slider("Uncertainty threshold (minimum top probability)", 0.0, 1.0,
                        value=float(own if threshold is None else threshold), step=0.01,
                        key="set_threshold",
                        help="Used when the box above is cleared: faces whose top probability "
                             "is below this are flagged uncertain in new analysis runs.")
        rev = st.checkbox("Charts use reviewed labels by default", value=use_reviews,
                          key="set_reviews")
        new_k = st.number_input("Reviews per face (k)", REVIEWS_PER_FACE.minimum,
                                REVIEWS_PER_FACE.maximum, value=k, step=1, key="set_k",
                                help=REVIEWS_PER_FACE.help[:1].upper() + REVIEWS_PER_FACE.help[1:]
                                + ". E.g. 3 for faces that will train a model.")
        if st.form_submit_button("Save", type="primary"):
            before = {"model": current_model, "threshold": threshold, "use_reviews": use_reviews,
                      "reviews_per_face": k}
            after = {"model": str(model), "threshold": None if use_own else float(f"{thr:g}"),
                     "use_reviews": bool(rev), "reviews_per_face": int(new_k)}
            with ws.sessions.begin() as s:
                set_setting(session=s, key=SettingKey.DEFAULT_MODEL, value=str(model))
                if use_own:
                    clear_setting(session=s, key=SettingKey.UNCERTAINTY_THRESHOLD)
                else:
                    set_setting(session=s, key=SettingKey.UNCERTAINTY_THRESHOLD,
                                value=f"{thr:g}")
                set_setting(session=s, key=SettingKey.USE_REVIEWS, value="1" if rev else "0")
                set_setting(session=s, key=SettingKey.REVIEWS_PER_FACE, value=str(int(new_k)))
                audit.record(s, auth.principal(), AuditAction.SETTINGS_CHANGE,
                             object_kind=ObjectKind.SETTING, object_id="analysis",
                             details={key: {"before": before[key], "after": v}
                                      for key, v in after.items() if before[key] != v})
            st.success("Saved. New analysis runs use these settings.")


def models_section() -> None:
    """Adapted model versions and fine-tuning (see :mod:`brandmood.ui.model_views`)."""
    from brandmood.ui import model_views

    model_views.versions_view()
    model_views.finetune_view()
