"""The app's own navigation: one sidebar link per page file, Streamlit's list hidden."""

from __future__ import annotations

import tomllib

from tests.pages.conftest import APP, REPO, run_page


def test_one_link_per_page_file_and_no_automatic_list(empty_home):
    at = run_page()
    links = at.get("page_link")
    stems = sorted(p.stem for p in (REPO / "pages").glob("*.py") if p.name != "__init__.py")
    paths = [link.proto.page or "overview" for link in links]  # "": the default page
    assert sorted(paths) == stems
    assert [link.proto.label for link in links][:2] == ["Overview", "Campaigns"]
    assert all(link.proto.label[0].isupper() for link in links)
    config = tomllib.loads((APP.parent / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showSidebarNavigation"] is False
