"""Settings page, model part: how far the model can be trusted (cross-validated accuracy,
calibration, what "uncertain" means), the versions a team adapted, which one is used,
fine-tuning."""

from __future__ import annotations

import streamlit as st

from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.services import audit
from brandmood.services.model_quality import model_quality, quality_rows, reliability_figure
from brandmood.ui import auth
from brandmood.ui.data import workspace
from db.queries.model_versions import active_version, list_versions, set_active
from db.queries.review import SettingKey, get_setting

DEFAULT_CHOICE = "stock default model"


def _version_rows(versions) -> list[dict[str, object]]:
    rows = []
    for v in versions:
        m = v.metrics or {}
        rows.append({"id": v.id, "version": f"{v.name}@{v.version}", "active": v.active,
                     "base accuracy": m.get("base_accuracy"),
                     "adapted accuracy": m.get("adapted_accuracy"),
                     "human agreement (ceiling)": m.get("human_agreement"),
                     "base macro-F1": m.get("base_macro_f1"),
                     "adapted macro-F1": m.get("adapted_macro_f1"),
                     "held-out faces": m.get("n_test"),
                     "ECE before → after": _ece_text(m.get("calibration")),
                     "created": v.created_at})
    return rows


def _ece_text(cal: dict | None) -> str | None:
    if not cal or cal.get("ece_before") is None or cal.get("ece_after") is None:
        return None
    return f"{cal['ece_before']:.3f} → {cal['ece_after']:.3f}"


def quality_view() -> None:
    """The workspace model's cross-validated accuracy, calibration (ECE and a reliability
    diagram) and the accuracy of the faces it marks certain."""
    ws = workspace()
    with ws.session() as s:
        model = get_setting(session=s, key=SettingKey.DEFAULT_MODEL, default=ws.config.model)
        current = active_version(session=s)
    st.subheader("How far the numbers can be trusted")
    if current is not None and current.path == model:
        _version_quality(current)
        return
    q = model_quality(str(model))
    if q is None:
        st.info(f"{model} ships no cross-validated calibration: its probabilities are used as "
                "they come, and faces under 0.5 confidence (or within 0.1 of the runner-up) "
                "count as uncertain.")
        return
    st.caption(f"Model {q.model}, calibration {q.calibration}. Figures on people the model "
               f"was never tuned on ({q.method}). A face is *uncertain* when its calibrated "
               f"top probability is under {q.min_confidence:.2f}, chosen so that the other "
               f"faces are right about {q.target:.0%} of the time.")
    st.table(quality_rows(q))
    st.plotly_chart(reliability_figure(q.reliability), key="model_reliability")


def _version_quality(version) -> None:
    """An adapted version's held-out calibration, from its fine-tuning metrics."""
    m = version.metrics or {}
    cal = m.get("calibration") or {}
    st.caption(f"Adapted model {version.name}@{version.version}: held-out accuracy "
               f"{m.get('adapted_accuracy', float('nan')):.3f} on {m.get('n_test')} faces of "
               "people it did not learn from.")
    if cal.get("reliability"):
        st.caption(f"Calibration {cal.get('tag', '')}: ECE {_ece_text(cal)} on the held-out "
                   f"faces; uncertain under {cal.get('min_confidence', 0):.2f}, the other "
                   f"held-out faces right {cal.get('certain_accuracy') or 0:.0%} of the time "
                   f"({cal.get('uncertain_share') or 0:.0%} uncertain).")
        st.plotly_chart(reliability_figure(cal["reliability"]), key="version_reliability")


def versions_view() -> None:
    """The model's trust figures, then the adapted model versions with their held-out
    metrics; pick the one in use."""
    quality_view()
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
            audit.record(s, auth.principal(), AuditAction.MODEL_REGISTRATION,
                         object_kind=ObjectKind.MODEL_VERSION, object_id=labels[choice],
                         details={"activated": choice})
        st.success(f"New analysis runs use {choice}. Re-analyze assets on the Jobs page "
                   "to see their faces with it.")


def finetune_view() -> None:
    """Adapt the emotion model to this workspace's reviewed faces."""
    from analytics.finetune import FinetuneConfig
    from brandmood.services.finetune import run_finetune

    ws = workspace()
    st.subheader("Fine-tune on reviewed faces")
    st.caption("Trains a new head on face-api's features from the faces whose reviews agree "
               "(the consensus label; disputed faces and faces waiting for more reviews are "
               "left out), "
               "calibrates its probabilities on them (by cross-validation over people or "
               "assets), holds out part of them (grouped by asset) and reports accuracy and "
               "calibration error before and after. Labels with fewer examples than the "
               "minimum stay unpredicted (n/a), never guessed.")
    min_per_class = st.number_input("Minimum reviewed faces per label", 2, 200, 8,
                                    key="ft_min")
    if not st.button("Fine-tune now", key="ft_run"):
        return
    with st.spinner("Fine-tuning on reviewed faces…"):
        try:
            outcome = run_finetune(ws, cfg=FinetuneConfig(min_per_class=int(min_per_class)),
                                   actor=auth.principal())
        except ValueError as exc:
            st.warning(f"Not enough to learn from yet: {exc}")
            return
    m = outcome.result.metrics_dict()
    summary = (f"held-out accuracy {m['base_accuracy']:.3f} → {m['adapted_accuracy']:.3f}, "
               f"macro-F1 {m['base_macro_f1']:.3f} → {m['adapted_macro_f1']:.3f} "
               f"on {m['n_test']} faces; calibration error (ECE) "
               f"{_ece_text(m.get('calibration')) or 'n/a'}")
    h = outcome.human
    if h.percent_agreement is not None:
        summary += (f"; reviewers agree on {h.percent_agreement:.0%} of pairs of reviews "
                    f"(the ceiling; {h.disputed} disputed faces left out)")
    if outcome.version_id is None:
        st.warning(f"Not registered: the adapted model was not better ({summary}).")
    else:
        st.success(f"Registered a new version ({summary}). Choose it above to use it.")
