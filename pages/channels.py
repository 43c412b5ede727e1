"""Channels: emotion share per channel, side-by-side comparison, trend, emotion × engagement."""

from brandmood.ui import views
from db.queries.dashboard import GroupBy

views.group_page(GroupBy.CHANNEL, "Channels")
