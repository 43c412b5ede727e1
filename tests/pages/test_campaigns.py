"""Campaigns page: stacked bars per campaign equal independent counts."""

from tests.pages.group_checks import check_group_page, check_group_page_empty


def test_campaigns_page(filled):
    check_group_page(filled, "campaigns.py", lambda f: f.a["campaign_id"],
                     {"Spring": filled.ids["spring"], "Summer": filled.ids["summer"]})


def test_campaigns_page_empty(empty_home):
    check_group_page_empty("campaigns.py")
