"""Ambassadors: emotion share per ambassador, comparison, trend, emotion × engagement; an
Erase section for the brands' admins."""

from brandmood.ui import erasure_views, views
from db.queries.dashboard import GroupBy

views.group_page(GroupBy.AMBASSADOR, "Ambassadors")
erasure_views.erase_ambassador_section()
