"""Settings page, model part: the versions a team adapted, which one is used, fine-tuning."""

from __future__ import annotations

import streamlit as st

from brandmood.ui.data import workspace
from db.queries.model_versions import active_version, list_versions, set_active

DEFAULT_CHOICE = "stock default model"


def _version_rows(versions) -> list[dict[str, object]]:
    rows = []
    for v in versions:
        m = v.metrics or {}
        rows.append({"id": v.id, "version": f"{v.name}@{v.version}", "active": v.active,
                     "base accuracy": m.get("base_accuracy"),
                     "adapted accuracy": m.get("adapted_accuracy"),
                     "base macro-F1": m.get("base_macro_f1"),
                     "adapted macro-F1": m.get("adapted_macro_f1"),
                     "held-out faces": m.get("n_test"), "created": v.created_at})
    return rows


def versions_view() -> None:
    """List adapted model versions with their held-out metrics; pick the one in use."""
    ws = workspace()
    st.subheader("Model versions")
    with ws.session() as s:
        versions = list(list_versions(session=s))
        current = active_version(session=s)
    if not versions:
        st.info("No adapted model yet. Review faces on the Review page, then fine-tune below: "
                "a new version is kept only where it beats the base model on held-out faces.")
        return
    st.dataframe(_version_rows(versions), hide_index=True)
    labels = {DEFAULT_CHOICE: None} | {f"{v.name}@{v.version}": v.id for v in versions}
    now = f"{current.name}@{current.version}" if current else DEFAULT_CHOICE
    choice = st.selectbox("Model the next analysis runs use", list(labels),
                          index=list(labels).index(now), key="set_version")
    if st.button("Use this model", key="use_version"):
        with ws.sessions.begin() as s:
            set_active(session=s, version_id=labels[choice])
        st.success(f"New analysis runs use {choice}. Re-analyze assets on the Jobs page "
                   "to see their faces with it.")


def finetune_view() -> None:
    """Adapt the emotion model to this workspace's reviewed faces."""
    from analytics.finetune import FinetuneConfig
    from brandmood.services.finetune import run_finetune

    ws = workspace()
    st.subheader("Fine-tune on reviewed faces")
    st.caption("Trains a new head on the default model's features from the faces you "
               "reviewed, holds out part of them (grouped by asset) and reports accuracy "
               "before and after. Labels with fewer examples than the minimum stay "
               "unpredicted (n/a), never guessed.")
    min_per_class = st.number_input("Minimum reviewed faces per label", 2, 200, 8,
                                    key="ft_min")
    if not st.button("Fine-tune now", key="ft_run"):
        return
    with st.spinner("Fine-tuning on reviewed faces…"):
        try:
            outcome = run_finetune(ws, cfg=FinetuneConfig(min_per_class=int(min_per_class)))
        except ValueError as exc:
            st.warning(f"Not enough to learn from yet: {exc}")
            return
    m = outcome.result.metrics_dict()
    summary = (f"held-out accuracy {m['base_accuracy']:.3f} → {m['adapted_accuracy']:.3f}, "
               f"macro-F1 {m['base_macro_f1']:.3f} → {m['adapted_macro_f1']:.3f} "
               f"on {m['n_test']} faces")
    if outcome.version_id is None:
        st.warning(f"Not registered: the adapted model was not better ({summary}).")
    else:
        st.success(f"Registered a new version ({summary}). Choose it above to use it.")
