"""Ambassadors page: stacked bars per ambassador equal independent SQL counts."""

from tests.pages.group_checks import check_group_page, check_group_page_empty


def test_ambassadors_page(filled):
    check_group_page(filled, "ambassadors.py", "COALESCE(f.ambassador_id, a.ambassador_id)",
                     {"Ana": filled.ids["ana"], "Ben": filled.ids["ben"]})


def test_ambassadors_page_empty(empty_home):
    check_group_page_empty("ambassadors.py")
