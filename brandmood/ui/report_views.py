"""The Reports page's view: prepare a file for the current filters, then download it."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from brandmood.core.access import Permission
from brandmood.services import access, audit, reports
from brandmood.ui import auth
from brandmood.ui.data import workspace
from db.models import Brand
from db.queries.selection import DashboardFilters

KINDS = {
    "faces_csv": ("Faces (CSV)", "faces.csv", "text/csv", Permission.EXPORT_FACES),
    "assets_csv": ("Assets (CSV)", "assets.csv", "text/csv", Permission.VIEW),
    "xlsx": ("Excel workbook", "brandmood-report.xlsx",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             Permission.EXPORT_FACES),  # its Faces sheet
    "pdf": ("PDF brand report", "brandmood-report.pdf", "application/pdf", Permission.VIEW),
}
"""Each export: title, file name, MIME type, and the permission it needs in the brand."""


def build(kind: str, filters: DashboardFilters, *, show_faces: bool = False) -> bytes:
    """The bytes of one export for the filters (``show_faces``: the PDF's images show
    faces unblurred, for internal use).

    Raises:
        KeyError: for an unknown kind.
        AccessDenied: the user may not export this kind in the brand.
        reports.ChartExportError: where the PDF's charts cannot be rendered.
    """
    ws = workspace()
    permission = KINDS[kind][3]
    who = auth.principal()
    access.require(who, permission, filters.brand_id)
    audit.enforce(ws.sessions, who, audit.export_limit(ws.config))
    filters = replace(filters, scope=auth.scope(permission))
    with auth.session(permission) as s:
        brand = s.get(Brand, filters.brand_id).name if filters.brand_id else "all brands"
        data = reports.collect_report(s, filters=filters, media=ws.media, brand=brand,
                                      show_faces=show_faces)
        writer = {"faces_csv": reports.faces_csv, "assets_csv": reports.assets_csv,
                  "xlsx": reports.excel_report, "pdf": reports.pdf_report}[kind]
        payload = writer(data)
    with ws.sessions.begin() as s:  # recorded before it is handed out
        audit.record_export(s, who, brand_id=filters.brand_id, scope=filters.scope,
                            object_id=kind, details={"show_faces": show_faces,
                                                     "bytes": len(payload)})
    return payload


def reports_view(filters: DashboardFilters) -> None:
    """One prepare button and, once prepared, one download button per export."""
    st.write("Exports contain exactly what the sidebar filters select.")
    show_faces = st.toggle(
        "Show faces unblurred in the PDF (internal use only)", value=False, key="rep_faces",
        help="By default the PDF's images blur every face that is not a consenting "
             "ambassador's; the report says which was chosen.")
    if show_faces:
        st.warning("The PDF will show faces of people who did not consent: keep it inside "
                   "the organisation.")
    ready = st.session_state.setdefault("rep_ready", {})
    for kind, (title, name, mime, permission) in KINDS.items():
        if not auth.may(permission, filters.brand_id):
            st.caption(f"{title}: needs the analyst role in this brand (it holds faces).")
            continue
        c1, c2 = st.columns([1, 2])
        wanted = (filters, show_faces if kind == "pdf" else False)
        if c1.button(f"Prepare {title}", key=f"prep_{kind}"):
            with st.spinner(f"Preparing {title}…"):
                try:
                    ready[kind] = (wanted, build(kind, filters, show_faces=wanted[1]))
                except (reports.ChartExportError, audit.RateLimited) as exc:
                    st.error(str(exc))
        if kind in ready and ready[kind][0] == wanted:
            c2.download_button(f"Download {name}", ready[kind][1], file_name=name, mime=mime,
                               key=f"dl_{kind}")
        elif kind in ready:
            c2.caption("The filters or the face option changed since this file was prepared: "
                       "prepare it again.")
