"""Checks shared by the Campaigns, Channels and Ambassadors page tests."""

from __future__ import annotations

from collections.abc import Callable

from tests.pages import expected
from tests.pages.conftest import chart_counts, run_page
from tests.pages.expected import Seen


def check_group_page(filled, page: str, group_of: Callable[[Seen], int | None],
                     names: dict[str, int]) -> None:
    """The page's stacked bars carry, per group and label, the counts plain Python gives.

    Args:
        group_of: a counted face's group id.
        names: group display name → id.
    """
    at = run_page(page)
    assert [t.value for t in at.title]
    got = chart_counts(at, 0)
    assert got, "no distribution chart"
    for name, gid in names.items():
        want = expected.label_counts(filled.ws, brand=filled.ids["brand"],
                                     where=lambda f, g=gid: group_of(f) == g)
        shown = {lbl: n for (grp, lbl), n in got.items() if grp == name and n}
        assert shown == {k: v for k, v in want.items() if v}, (name, shown, want)
    # comparison of two groups and the trend are drawn too
    assert len(at.get("plotly_chart")) >= 4
    assert any("fer-mini-xception@1.0" in c.value for c in at.caption)


def check_group_page_empty(page: str) -> None:
    at = run_page(page)
    assert any("No data yet" in i.value for i in at.info)
    assert not at.get("plotly_chart")
