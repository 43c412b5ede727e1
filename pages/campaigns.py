"""Campaigns: emotion share per campaign, side-by-side comparison, trend, emotion × engagement."""

from brandmood.ui import views
from db.queries.dashboard import GroupBy

views.group_page(GroupBy.CAMPAIGN, "Campaigns")
