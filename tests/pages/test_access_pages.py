"""Brand A's users never see brand B: every page each role may use, every export, forged
URLs, and the navigation each role gets (AppTest, signed in as the identity provider's
claims would sign them in; workspace with brands Acme and Zenith Confidential).

Brand B's rows carry names and ids found nowhere else (tests/pages/secret_brand.py): a
page's whole element tree (text, tables, charts, widget options), every file it exports,
and the media files the page or the PDF reads are searched for them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import streamlit as st
from openpyxl import load_workbook
from pypdf import PdfReader

from brandmood.core.access import AccessDenied, BrandScope, Permission, Role
from brandmood.services import access, reports
from brandmood.ui import media
from db.queries.selection import DashboardFilters
from tests.pages.conftest import run_page
from tests.pages.secret_brand import NAME, add_secret_brand, leaks

VIEWER = {"sub": "viewer-sub", "email": "viewer@acme.test", "name": "Vera Viewer"}
ANALYST = {"sub": "analyst-sub", "email": "analyst@acme.test",
           "groups": ["brand:Acme:analyst", "other-group"]}  # a role from a group claim
ADMIN = {"sub": "admin-sub", "email": "Admin@Acme.test"}  # invited by email, lower case
USERS = {"viewer": VIEWER, "analyst": ANALYST, "admin": ADMIN}
VIEW_PAGES = {"Overview", "Campaigns", "Channels", "Ambassadors", "Assets", "Reports", "Fairness",
              "Responsible use"}
LINKS = {"viewer": VIEW_PAGES,
         "analyst": VIEW_PAGES | {"Ambassador faces", "Upload", "Review", "Agreement", "Jobs"},
         "admin": VIEW_PAGES | {"Ambassador faces", "Upload", "Review", "Agreement", "Jobs",
                                "Members", "Audit"}}


@pytest.fixture
def two_brands(filled, media):
    """The filled workspace with brand B made recognisable, and members of both brands."""
    b = add_secret_brand(filled.ws, media, filled.ids)
    op = access.cli_operator()
    with filled.ws.sessions.begin() as s:
        acme = filled.ids["brand"]
        access.set_member(s, op, brand_id=acme, user="viewer-sub", role=Role.VIEWER)
        access.set_member(s, op, brand_id=acme, user="admin@acme.test", role=Role.ADMIN)
        access.set_member(s, op, brand_id=b["brand"], user="zenith-member@zenith.example",
                          role=Role.ANALYST)
    return filled, b


@pytest.fixture
def media_reads(monkeypatch) -> list[Path]:
    """Every media file a page or the PDF opens (thumbnails, frames, face crops), as the
    media store's relative paths."""
    reads: list[Path] = []

    def recording(fn):
        def wrapper(store, relpath, *args, **kwargs):
            reads.append(Path(relpath))
            return fn(store, relpath, *args, **kwargs)
        return wrapper
    monkeypatch.setattr(media, "load_still", recording(media.load_still))
    monkeypatch.setattr(media, "video_frame", recording(media.video_frame))
    monkeypatch.setattr(reports, "_thumb_jpeg", recording(reports._thumb_jpeg))
    st.cache_data.clear()  # a cached thumbnail would not be read again
    return reads


def everything(at) -> str:
    """The whole element tree of a finished run as text (protos: text, tables' Arrow
    bytes, chart specs, widget options), plus each table as CSV."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    out += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(out)


def _links(at) -> dict[str, str]:
    """Sidebar link title → page file."""
    return {link.proto.label: f"{link.proto.page or 'overview'}.py"
            for link in at.get("page_link")}


@pytest.mark.parametrize("role", list(USERS))
def test_every_page_of_a_role_shows_brand_a_only(two_brands, media_reads, role):
    _filled, b = two_brands
    at = run_page(user=USERS[role])
    links = _links(at)
    assert set(links) == LINKS[role]  # no Settings (owners), Upload only from analyst on
    assert at.sidebar.selectbox(key="f_brand").options == ["Acme"]
    assert not leaks(everything(at), {b["media"]})
    for title, page in links.items():
        at = run_page(page, user=USERS[role])
        assert not at.error, (page, [e.value for e in at.error])
        assert [t.value for t in at.title] == [title], page
        text = everything(at)
        assert not leaks(text, {b["media"]}), (title, leaks(text, {b["media"]}))
    opened = {p.name for p in media_reads}
    assert opened, "no page opened a media file: the thumbnail check proved nothing"
    assert Path(b["media"]).name not in opened


def test_forged_url_parameters_are_refused(two_brands):
    _filled, b = two_brands
    forged = [({"brand": NAME}, None, f"the brand '{NAME}'"),
              ({"campaigns": str(b["campaign"])}, None, f"campaign #{b['campaign']}"),
              ({"asset": str(b["asset"])}, "assets.py", f"asset #{b['asset']}"),
              ({"asset": str(b["shared_asset"])}, "assets.py", f"asset #{b['shared_asset']}")]
    for query, page, what in forged:
        at = run_page(page, user=VIEWER, query=query)
        errors = [e.value for e in at.error]
        assert errors and errors[0].startswith(f"Access refused: {what} is not available"), \
            (query, errors)
        shown = everything(at)
        for value in query.values():  # the refusal may echo what the URL said
            shown = shown.replace(value, "")
        assert not leaks(shown, {b["media"]}), (query, leaks(shown, {b["media"]}))
    # a brand that does not exist is refused in the same words (no oracle)
    at = run_page(user=VIEWER, query={"brand": "No Such Brand"})
    assert at.error[0].value.endswith("(it does not exist, or it belongs to a brand you "
                                      "may not see).")


def _export_texts(data: reports.ReportData) -> dict[str, str]:
    faces = reports.faces_csv(data).decode()
    assets = reports.assets_csv(data).decode()
    book = load_workbook(io.BytesIO(reports.excel_report(data)), read_only=True)
    cells = "\n".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True)
                      for v in row if v is not None)
    pdf = PdfReader(io.BytesIO(reports.pdf_report(data, charts=False)))
    return {"faces.csv": faces, "assets.csv": assets, "xlsx": cells,
            "pdf": "\n".join(p.extract_text() for p in pdf.pages)}


@pytest.mark.parametrize("role", list(USERS))
def test_every_export_of_a_role_holds_brand_a_only(two_brands, media_reads, role):
    filled, b = two_brands
    ws = filled.ws
    with ws.session() as s:
        who = access.principal_for(s, access.Identity.from_claims(USERS[role],
                                                                  groups_claim="groups"))
    scope = who.allowed_brands(Permission.VIEW)
    assert scope == BrandScope.of([filled.ids["brand"]])
    with pytest.raises(AccessDenied):
        DashboardFilters(brand_id=b["brand"], scope=scope)
    for brand_id in (None, filled.ids["brand"]):  # every brand of the scope; brand A
        f = DashboardFilters(brand_id=brand_id, scope=scope)
        with ws.session() as s:
            data = reports.collect_report(s, filters=f, media=ws.media, brand="x")
            texts = _export_texts(data)
        rows = list(csv.DictReader(io.StringIO(texts["faces.csv"])))
        assert rows and {r["asset_id"] for r in rows} <= {str(i) for k, i in
                                                          filled.ids.items()
                                                          if k.endswith((".jpg", "video"))}
        for name, text in texts.items():
            assert not leaks(text, {b["media"]}), (brand_id, name, leaks(text, set()))
    assert media_reads and Path(b["media"]).name not in {p.name for p in media_reads}


def test_reports_page_offers_face_exports_to_analysts_only(two_brands):
    at = run_page("reports.py", user=VIEWER)
    keys = {b.key for b in at.button}
    assert {"prep_assets_csv", "prep_pdf"} <= keys
    assert not keys & {"prep_faces_csv", "prep_xlsx"}
    assert any("needs the analyst role" in c.value for c in at.caption)
    at.button(key="prep_assets_csv").click().run()
    (download,) = at.get("download_button")
    assert download.proto.label == "Download assets.csv"
    at = run_page("reports.py", user=ANALYST)
    assert {"prep_faces_csv", "prep_xlsx"} <= {b.key for b in at.button}


def test_a_user_without_a_brand_is_told_so(two_brands):
    at = run_page(user={"sub": "stranger", "email": "stranger@else.test"})
    assert not at.get("page_link")
    assert "no brand is shared with you yet" in at.error[0].value
    assert not leaks(everything(at), set())


def test_owner_group_sees_every_brand_and_settings(two_brands):
    at = run_page(user={"sub": "boss", "groups": ["brandmood:owner"]})
    assert {"Settings", "Members", "Audit", "Upload"} <= set(_links(at))
    brand_box = at.sidebar.selectbox(key="f_brand")
    assert set(brand_box.options) == {"Acme", NAME}
