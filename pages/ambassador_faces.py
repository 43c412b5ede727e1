"""Ambassador faces: enroll, recognized faces with their distance, review, own vs other emotions.

Metadata tags (an ambassador named on a post) and recognized faces are kept apart: the
table shows both counts, and the emotion comparison says which posts it covers.
"""

from __future__ import annotations

import streamlit as st

from analytics.identity_registry import embedder_spec
from brandmood.core.access import Permission
from brandmood.core.settings import load_config
from brandmood.services import charts
from brandmood.ui import auth, media, review_views
from brandmood.ui.data import workspace
from db.models import AssetKind
from db.queries import identity as q
from db.queries.core import list_brands

st.title("Ambassador faces")
ws = workspace()
with auth.session(Permission.REVIEW) as s:
    brands = {b.name: b.id for b in list_brands(session=s, scope=auth.scope(Permission.REVIEW))}
if not brands:
    st.info("No brand yet: ingest media first (Upload page or `brandmood ingest`).")
    st.stop()
brand = st.selectbox("Brand", list(brands))
brand_id = brands[brand]

with st.expander("Enroll an ambassador (1–20 reference photos)"), st.form("enroll"):
    name = st.text_input("Name")
    files = st.file_uploader("Reference photos (the largest face of each is used)",
                             type=["jpg", "jpeg", "png", "webp"], accept_multiple_files=True)
    st.caption("Recognition needs the ambassador's consent: who gave it and the contract or "
               "consent form it rests on (not needed again once on record).")
    consent_by = st.text_input("Consent given by")
    consent_basis = st.text_input("Consent basis (contract or consent form reference)")
    if st.form_submit_button("Enroll") and name and files:
        from analytics.images import load_image
        from brandmood.services.identity import EnrollItem, enroll
        from db.queries.consent import Consent

        images, failed = [], []
        for f in files[:20]:
            try:
                images.append((f.name, load_image(f.getvalue())))
            except ValueError as exc:
                failed.append(EnrollItem(f.name, False, str(exc)))
        try:
            with st.spinner("Finding and embedding faces…"):
                consent = (Consent(consent_by, consent_basis)
                           if consent_by.strip() or consent_basis.strip() else None)
                out = enroll(ws, brand=brand, name=name.strip(), images=images,
                             pre_failed=failed, consent=consent,
                             recorded_by=auth.principal().label)
            st.success(f"{name}: {out.added} reference face(s) added")
            for item in out.items:
                if not item.ok:
                    st.warning(f"{item.source}: {item.reason}")
        except ValueError as exc:
            st.error(str(exc))

left, right = st.columns([2, 1])
spec = embedder_spec(load_config().embedder)  # as the identity jobs read it
if spec.threshold is None:
    right.warning(f"{spec.name.value} has no calibrated threshold: calibrate one on your data "
                  "(benchmarks/identity.py) before trusting its matches.")
threshold = right.slider(f"Match threshold ({spec.name.value} embedding distance)", 0.1, 1.6,
                         float(spec.threshold or 1.0), 0.01,
                         help=(f"Calibrated default {spec.threshold} for one reference photo"
                               + (f"; spread-out references widen it up to {spec.rule.top}"
                                  if spec.rule.top > spec.rule.floor else "")
                               if spec.rule else "Not calibrated")
                         + " (see docs/identity_and_adaptation.md). Lower = fewer false matches.")
if right.button("Match all analyzed faces"):
    from brandmood.services.identity import match_faces

    bar = st.progress(0.0)
    out = match_faces(ws, brand=brand, threshold=threshold, embedder=spec.name,
                      progress=lambda d, t, m: bar.progress(d / max(t, 1), text=m))
    st.success(f"{out.n_faces} faces: {out.n_matched} matched, {out.n_unknown} unknown, "
               f"{out.n_kept_reviewed} kept as reviewed")
    for asset_id, reason in out.failed:
        st.warning(f"asset {asset_id}: {reason}")

with ws.session() as s:
    ambassadors = q.list_ambassadors(session=s, brand_id=brand_id, model=spec.name.value)
if not ambassadors:
    left.info("No ambassador enrolled yet.")
    st.stop()
left.dataframe([{"ambassador": a.name, "references": a.n_references,
                 "recognized faces": a.n_matched, "confirmed": a.n_confirmed,
                 "tagged posts (metadata)": a.n_tagged_assets} for a in ambassadors],
               hide_index=True)
names = {a.id: a.name for a in ambassadors}
chosen = st.selectbox("Ambassador", list(names), format_func=names.get)

with ws.session() as s:
    emo = q.ambassador_emotions(session=s, ambassador_id=chosen)
st.subheader(f"Emotions in {names[chosen]}'s posts ({emo.n_assets} posts: recognized or tagged)")
c1, c2 = st.columns(2)
c1.plotly_chart(charts.single_share_bar({e.value: n for e, n in emo.own.items()},
                                        title=f"{names[chosen]}'s own face"))
c2.plotly_chart(charts.single_share_bar({e.value: n for e, n in emo.others.items()},
                                        title="Other faces in the same posts"))

st.subheader("Recognized faces, nearest first")
with ws.session() as s:
    rows = q.match_rows(session=s, brand_id=brand_id, ambassador_id=chosen, limit=60)
if not rows:
    st.caption("No face matched yet: press **Match all analyzed faces**.")
verdicts = {None: "machine match", True: "confirmed", False: "rejected"}
for row in rows:
    face = row.face
    pic, info, act = st.columns([1, 2, 2])
    try:
        frame = media.picture(ws.media, face.media_path, face.kind, face.timestamp_ms / 1000)
        pic.image(frame.crop(tuple(int(v) for v in face.row.box)), width=110)
    except (media.MediaError, RuntimeError) as exc:
        pic.caption(str(exc))
    dist = "—" if face.ambassador_distance is None else f"{face.ambassador_distance:.3f}"
    tag = names.get(row.tagged_ambassador_id, "none") if row.tagged_ambassador_id else "none"
    info.markdown(f"face {face.face_id} · asset {face.asset_id}"
                  + (f" at {face.timestamp_ms / 1000:.1f}s" if face.kind is AssetKind.VIDEO
                     else "")
                  + f"  \ndistance **{dist}** · {verdicts[face.ambassador_confirmed]}  \n"
                  f"post tagged: {tag}")
    b1, b2, b3 = act.columns(3)
    with ws.session() as s:
        if b1.button("Confirm", key=f"ok{face.face_id}"):
            q.review_match(session=s, face_id=face.face_id, confirmed=True)
            review_views.record_match_review(s, face_id=face.face_id, brand_id=brand_id,
                                             verdict="confirmed")
            s.commit()
            st.rerun()
        if b2.button("Reject", key=f"no{face.face_id}"):
            q.review_match(session=s, face_id=face.face_id, confirmed=False)
            review_views.record_match_review(s, face_id=face.face_id, brand_id=brand_id,
                                             verdict="rejected")
            s.commit()
            st.rerun()
        if face.ambassador_confirmed and b3.button("Make reference", key=f"ref{face.face_id}"):
            try:
                q.reference_from_face(session=s, face_id=face.face_id,
                                      model=spec.name.value)
                s.commit()
                st.toast("added as a reference")
            except ValueError as exc:
                st.error(str(exc))
        other = act.selectbox("Reassign to", [None, *names], key=f"re{face.face_id}",
                              format_func=lambda i: "—" if i is None else names[i])
        if other is not None and other != face.ambassador_id:
            q.review_match(session=s, face_id=face.face_id, confirmed=True, ambassador_id=other)
            review_views.record_match_review(s, face_id=face.face_id, brand_id=brand_id,
                                             verdict="reassigned")
            s.commit()
            st.rerun()
