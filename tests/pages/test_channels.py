"""Channels page: stacked bars per channel equal independent counts."""

from tests.pages.group_checks import check_group_page, check_group_page_empty


def test_channels_page(filled):
    check_group_page(filled, "channels.py", lambda f: f.a["channel_id"],
                     {"instagram:acme": filled.ids["instagram"],
                      "youtube:acme": filled.ids["youtube"]})


def test_channels_page_empty(empty_home):
    check_group_page_empty("channels.py")
