"""The Erase section of the Ambassadors page and the Privacy and retention section of the
Settings page, driven through AppTest on the filled workspace: an admin erases an
ambassador (after typing the name), the receipt shows no name, and the page's chart no
longer has a bar for them; a viewer sees no Erase section."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Ambassador, Face
from tests.pages.conftest import chart_counts, run_page


def test_admin_erases_an_ambassador_from_the_page(filled) -> None:
    with filled.ws.session() as s:
        ana = s.scalar(select(Ambassador.id).where(Ambassador.name == "Ana"))
        matched = set(s.scalars(select(Face.id).where(Face.ambassador_id == ana)))
    at = run_page("ambassadors.py")
    assert "Ana" in {grp for grp, _ in chart_counts(at, 0)}
    assert any(h.value == "Erase an ambassador" for h in at.subheader)
    at.selectbox(key="erase_brand").set_value("Acme").run()
    at.selectbox(key="erase_name").set_value("Ana").run()
    assert at.button(key="erase_go").disabled, "nothing runs before the name is typed"
    at.text_input(key="erase_confirm").set_value("Ana").run()
    at.button(key="erase_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    receipt = at.json[0].value
    assert '"ambassador"' in receipt and "Ana" not in receipt
    assert any("Erased" in m.value for m in at.success)
    assert "Ana" not in {grp for grp, _ in chart_counts(at, 0)}
    assert "Ben" in {grp for grp, _ in chart_counts(at, 0)}
    with filled.ws.session() as s:
        assert s.get(Ambassador, ana) is None
        assert not matched or not s.scalars(select(Face).where(Face.id.in_(matched))).all()


def test_a_viewer_sees_no_erase_section(filled) -> None:
    from brandmood.core.access import Role
    from brandmood.services import access

    with filled.ws.sessions.begin() as s:
        access.set_member(s, access.cli_operator(), brand_id=filled.ids["brand"],
                          user="viewer-sub", role=Role.VIEWER)
    at = run_page("ambassadors.py", user={"sub": "viewer-sub"})
    assert not any(h.value == "Erase an ambassador" for h in at.subheader)
    assert not [w for w in at.text_input if w.key == "erase_confirm"]


def test_settings_page_previews_retention(filled) -> None:
    at = run_page("settings.py", state={"ret_media": 30})
    assert any(h.value == "Privacy and retention" for h in at.subheader)
    text = " ".join(m.value for m in at.markdown)
    assert "would remove" in text
    assert at.button(key="ret_go").disabled, "applying needs the confirmation box"


def test_assets_page_says_thumbnails_were_removed_by_retention(filled) -> None:
    from brandmood.services.access import cli_operator
    from brandmood.services.retention import RetentionPolicy, apply_retention
    from db.queries.retention import REMOVED_BY_POLICY

    before = run_page("assets.py")  # thumbnails drawn (and cached in this process)
    shown = len(before.get("image"))
    assert shown and not [i for i in before.info if REMOVED_BY_POLICY in i.value]
    done = apply_retention(filled.ws, cli_operator(), policy=RetentionPolicy(media_days=30))
    assert done.media_assets >= 1
    at = run_page("assets.py")
    removed = [i for i in at.info if REMOVED_BY_POLICY in i.value]
    assert removed and len(removed) == shown - len(at.get("image")) <= done.media_assets


def test_admin_erases_the_person_a_face_shows(filled) -> None:
    with filled.ws.session() as s:
        face = s.scalar(select(Face).where(Face.ambassador_id.is_(None),
                                           Face.asset_id == filled.ids["multi_face.jpg"]))
        others = set(s.scalars(select(Face.id).where(Face.id != face.id)))
    at = run_page("ambassadors.py")
    at.number_input(key="erase_face_id").set_value(face.id).run()
    assert at.button(key="erase_face_go").disabled, "nothing runs before the box is ticked"
    at.checkbox(key="erase_face_sure").check().run()
    at.button(key="erase_face_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert '"face"' in at.json[0].value
    with filled.ws.session() as s:
        assert s.get(Face, face.id) is None
        assert set(s.scalars(select(Face.id))) == others
    at.number_input(key="erase_face_id").set_value(999_999).run()
    at.checkbox(key="erase_face_sure").check().run()
    at.button(key="erase_face_go").click().run()
    assert any("Access refused" in e.value for e in at.error)
