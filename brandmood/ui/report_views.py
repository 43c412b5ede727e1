"""The Reports page's view: prepare a file for the current filters, then download it."""

from __future__ import annotations

import streamlit as st

from brandmood.services import reports
from brandmood.ui.data import workspace
from db.models import Brand
from db.queries.selection import DashboardFilters

KINDS = {
    "faces_csv": ("Faces (CSV)", "faces.csv", "text/csv"),
    "assets_csv": ("Assets (CSV)", "assets.csv", "text/csv"),
    "xlsx": ("Excel workbook", "brandmood-report.xlsx",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pdf": ("PDF brand report", "brandmood-report.pdf", "application/pdf"),
}


def build(kind: str, filters: DashboardFilters) -> bytes:
    """The bytes of one export for the filters.

    Raises:
        KeyError: for an unknown kind.
        reports.ChartExportError: where the PDF's charts cannot be rendered.
    """
    ws = workspace()
    with ws.session() as s:
        brand = s.get(Brand, filters.brand_id).name if filters.brand_id else "all brands"
        data = reports.collect_report(s, filters=filters, media=ws.media, brand=brand)
        writer = {"faces_csv": reports.faces_csv, "assets_csv": reports.assets_csv,
                  "xlsx": reports.excel_report, "pdf": reports.pdf_report}[kind]
        return writer(data)


def reports_view(filters: DashboardFilters) -> None:
    """One prepare button and, once prepared, one download button per export."""
    st.write("Exports contain exactly what the sidebar filters select.")
    ready = st.session_state.setdefault("rep_ready", {})
    for kind, (title, name, mime) in KINDS.items():
        c1, c2 = st.columns([1, 2])
        if c1.button(f"Prepare {title}", key=f"prep_{kind}"):
            with st.spinner(f"Preparing {title}…"):
                try:
                    ready[kind] = (filters, build(kind, filters))
                except reports.ChartExportError as exc:
                    st.error(str(exc))
        if kind in ready and ready[kind][0] == filters:
            c2.download_button(f"Download {name}", ready[kind][1], file_name=name, mime=mime,
                               key=f"dl_{kind}")
        elif kind in ready:
            c2.caption("The filters changed since this file was prepared: prepare it again.")
