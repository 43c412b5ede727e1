"""The Review page's view: one uncertain face at a time, confirm or relabel by keyboard."""

from __future__ import annotations

import streamlit as st

from brandmood.core.access import Permission
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.core.types import EMOTIONS, Emotion
from brandmood.services import audit
from brandmood.ui import auth, media
from brandmood.ui.data import workspace
from db.queries.faces import StoredFace
from db.queries.review import face_brand_id, review_progress, review_queue, store_review
from db.queries.selection import DashboardFilters

SHORTCUTS = {e: str(i + 1) for i, e in enumerate(EMOTIONS)}


def reviewer() -> str:
    """Who reviews: the signed-in user, else the name typed on the page, else the local
    admin (``"local admin"``)."""
    return (auth.reviewer_name() or str(st.session_state.get("rv_name", "")).strip()
            or auth.principal().kind.value)


def _save(face_id: int, label: Emotion) -> None:
    with workspace().sessions.begin() as s:
        review = store_review(session=s, face_id=face_id, label=label,
                              scope=auth.scope(Permission.REVIEW), reviewer=reviewer())
        audit.record(s, auth.principal(), AuditAction.REVIEW,
                     brand_id=face_brand_id(session=s, face_id=face_id),
                     object_kind=ObjectKind.FACE, object_id=face_id,
                     details={"label": label.value, "review_id": review.id})
    st.session_state["rv_last"] = f"Face #{face_id} saved as {label.value}."


def record_match_review(session, *, face_id: int, brand_id: int, verdict: str) -> None:
    """An ambassador match confirmed, rejected or reassigned (Ambassador faces page), in
    the audit trail, in the review's transaction."""
    audit.record(session, auth.principal(), AuditAction.REVIEW, brand_id=brand_id,
                 object_kind=ObjectKind.FACE, object_id=face_id,
                 details={"ambassador_match": verdict})


def _picture(item: StoredFace):
    try:
        return media.stored_face_crop(workspace().media, item.media_path, item.kind,
                                      second=item.timestamp_ms / 1000, box=item.row.box,
                                      size=220)
    except media.MediaRemovedError as exc:
        st.info(str(exc))
        return None
    except media.MediaError as exc:
        st.error(str(exc))
        return None


def review(filters: DashboardFilters) -> None:
    """Show the most uncertain face the reviewer has not labelled (and that needs more
    reviews) with confirm / relabel buttons; never the other reviewers' labels.

    Args:
        filters: the selection, scoped to the brands where the user may review.
    """
    if not auth.reviewer_name():  # signed in: reviews carry the user's name
        st.text_input("Your name (stored with each review; each reviewer labels a face "
                      "once)", key="rv_name")
    who = reviewer()
    with auth.session(Permission.REVIEW) as s:
        queue = review_queue(session=s, filters=filters, reviewer=who, limit=10)
        p = review_progress(session=s, scope=filters.scope, reviewer=who)
    st.caption(f"Each face needs {p.k} review{'s' if p.k > 1 else ''}; its label is the "
               f"majority's. {p.agreed} faces agreed ({p.changed} differ from the model), "
               f"{p.disputed} disputed, {p.pending} waiting for more reviews. "
               f"You ({who}) have labelled {p.mine}.")
    if msg := st.session_state.pop("rv_last", None):
        st.success(msg)
    if not queue:
        st.info("Nothing to review: you have labelled every face in this selection that "
                "still needs reviews, or nothing has been analyzed yet (see **Upload**).")
        return
    item = queue[0]
    top = item.row.dominant  # the model's top emotion, even where flagged uncertain
    face = item.row
    c1, c2 = st.columns([1, 2])
    crop = _picture(item)
    if crop is not None:
        c1.image(crop, caption=f"face #{item.face_id} of asset #{item.asset_id}")
    conf = f"{face.confidence:.0%}" if face.confidence is not None else "n/a"
    c2.markdown(f"**Model says:** {top.value if top else 'nothing'} ({conf}"
                f"{', flagged uncertain' if face.uncertain else ''}, margin {face.margin:.2f})")
    c2.dataframe([{e.value: (f"{p:.2f}" if p is not None else "n/a")
                   for e, p in zip(EMOTIONS, face.probs, strict=True)}], hide_index=True)
    if top is not None:
        c2.button(f"Confirm {top.value} (Enter)", type="primary", key="rv_confirm",
                  shortcut="Enter", on_click=_save, args=(item.face_id, top))
    c2.write("Or relabel (keys 1–8):")
    cols = c2.columns(4)
    for i, e in enumerate(EMOTIONS):
        cols[i % 4].button(f"{SHORTCUTS[e]} {e.value}", key=f"rv_{e.value}",
                           shortcut=SHORTCUTS[e], on_click=_save, args=(item.face_id, e))
    st.caption(f"{len(queue)}+ faces waiting, most uncertain first.")
