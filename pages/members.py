"""Members: who may sign in to a brand, with which role (brand admins and owners)."""

import streamlit as st

from brandmood.ui import member_views

st.title("Members")
st.caption("People sign in through your identity provider; invite them here by email (or by "
           "their subject) with a role in one brand. " + member_views.ROLE_HELP + ".")
picked = member_views.pick_brand()
if picked is not None:
    member_views.members_view(*picked)
member_views.owners_view()
