"""Ambassadors page: stacked bars per ambassador equal independent counts."""

from tests.pages.expected import ambassador_of
from tests.pages.group_checks import check_group_page, check_group_page_empty


def test_ambassadors_page(filled):
    check_group_page(filled, "ambassadors.py", ambassador_of,
                     {"Ana": filled.ids["ana"], "Ben": filled.ids["ben"]})


def test_ambassadors_page_empty(empty_home):
    check_group_page_empty("ambassadors.py")
