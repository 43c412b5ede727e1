"""Ambassadors: emotion share per ambassador, comparison, trend, emotion × engagement."""

from brandmood.ui import views
from db.queries.dashboard import GroupBy

views.group_page(GroupBy.AMBASSADOR, "Ambassadors")
