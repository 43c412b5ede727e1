"""Audit: who did what, when, in which brand (brand admins: their brands; owners: all)."""

import streamlit as st

from brandmood.ui import audit_views

st.title("Audit")
st.caption("Every sign-in, upload, ingest, review, export, settings change, model "
           "registration, erasure, membership change and job, as it was recorded. The "
           "trail is append-only: nobody can change or delete an event.")
audit_views.audit_view()
