"""Exports of what the dashboard's filters select: CSV, Excel workbook and a PDF brand report.

``collect_report`` reads everything a report needs through the dashboard queries (SQL
aggregation, faces streamed); the writers turn a :class:`ReportData` into bytes.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sqlalchemy.orm import Session

from analytics.aggregate import shares
from analytics.privacy import blur_faces
from analytics.uncertainty import DEFAULT_RULE
from brandmood.core.types import LABELS, UNCERTAIN, Box
from brandmood.services import dashboard as sd
from db.media_store import MediaStore, MediaStoreError, derived_key
from db.models import AnalysisRun
from db.queries import dashboard as dq
from db.queries import dashboard_assets as da
from db.queries import export
from db.queries.export import AssetExportRow, FaceExportRow
from db.queries.privacy import faces_to_blur
from db.queries.retention import REMOVED_BY_POLICY
from db.queries.selection import DashboardFilters

EXCEL_MAX_ROWS = 1_048_575


class ReportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    PDF = "pdf"


@dataclass(frozen=True)
class GroupSummary:
    """Counted faces of one campaign / channel / ambassador, per label."""

    name: str
    counts: dict[str, int]

    @property
    def faces(self) -> int:
        return sum(self.counts.values())


@dataclass
class ReportData:
    """Everything a report shows, gathered once.

    Attributes:
        kpis: ``(name, value, change vs previous period)`` rows.
        groups: ``"campaign" | "channel" | "ambassador"`` → one summary per group.
        trend: ``(week start, label, faces)`` rows.
        top_assets: label → ``(asset id, media file in ``media``, confidence)`` best first.
        media: the media store the top assets' pictures are read from.
        faces: callable that streams the counted faces' rows, for raw data.
        assets: callable that streams the selected assets' rows.
        show_faces: images show faces as they are (internal use); False (the default):
            every face that is not a consenting ambassador's is blurred.
        blur_boxes: asset id → the face boxes its images blur (:func:`faces_to_blur`).
    """

    brand: str
    period: str
    model_versions: list[str]
    uncertainty_rule: str
    counts: dict[str, int]
    kpis: list[tuple[str, str, str]]
    groups: dict[str, list[GroupSummary]]
    trend: list[tuple[str, str, int]]
    top_assets: dict[str, list[tuple[int, str, float]]]
    faces: Callable[[], Iterator[FaceExportRow]]
    assets: Callable[[], Iterator[AssetExportRow]]
    media: MediaStore | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    use_reviews: bool = False
    show_faces: bool = False
    blur_boxes: dict[int, list[Box]] = field(default_factory=dict)

    @property
    def faces_note(self) -> str:
        """What the report's images do with faces (its methodology line and metadata)."""
        if self.show_faces:
            return ("Faces: shown unblurred, as the person who exported this report chose "
                    "(internal use only; do not publish or pass it on).")
        return ("Faces: blurred in every image of this report (the whole head, from the "
                "face boxes the analysis found), except faces matched to an ambassador who "
                "consented to recognition. A face the detector missed is not blurred.")


def _rule_of(parameters: Mapping[str, object] | None) -> tuple[float, float]:
    """``(min confidence, min margin)`` a run recorded (the analyzer's parameters, or an
    ``uncertainty`` mapping); the default rule where it recorded none."""
    params = dict(parameters or {})
    for rule in (params.get("uncertainty"), params.get("rule"), params):
        if isinstance(rule, Mapping) and {"min_confidence", "min_margin"} <= set(rule):
            return float(rule["min_confidence"]), float(rule["min_margin"])
    return DEFAULT_RULE.min_confidence, DEFAULT_RULE.min_margin


def rule_text(runs: Sequence[AnalysisRun]) -> str:
    """The uncertainty rule of the analysis runs behind a report's numbers.

    Each distinct rule is named once; where the runs used different rules, the text says
    so and names the runs of each.
    """
    if not runs:
        return "none applied: nothing in this selection has been analyzed"
    by_rule: dict[tuple[float, float], list[str]] = {}
    for run in runs:
        by_rule.setdefault(_rule_of(run.parameters), []).append(
            f"{run.model_name}@{run.model_version} (run {run.id})")

    def text(c: float, m: float) -> str:
        return (f"a face counts as uncertain when its top probability is below {c:g} or the "
                f"top two probabilities differ by less than {m:g}")
    if len(by_rule) == 1:
        return text(*next(iter(by_rule)))
    return ("the runs behind these numbers used different rules: " + "; ".join(
        f"{', '.join(names)}: {text(*rule)}" for rule, names in by_rule.items()))


def _kpi_rows(k, p) -> list[tuple[str, str, str]]:
    def d(cur, prev, pct):
        if prev is None:
            return ""
        return f"{(cur - prev) * 100:+.1f} pp" if pct else f"{cur - prev:+,}"
    return [
        ("Assets", f"{k.assets:,}", d(k.assets, p and p.assets, False)),
        ("Faces", f"{k.faces:,}", d(k.faces, p and p.faces, False)),
        ("Posts with faces", f"{k.face_post_share:.0%}",
         d(k.face_post_share, p and p.face_post_share, True)),
        ("Dominant emotion", k.dominant or "-", f"was {p.dominant}" if p else ""),
        ("Positive share", f"{k.positive_share:.0%}",
         d(k.positive_share, p and p.positive_share, True)),
        ("Uncertain share", f"{k.uncertain_share:.0%}",
         d(k.uncertain_share, p and p.uncertain_share, True)),
    ]


def collect_report(session: Session, *, filters: DashboardFilters, media: MediaStore,
                   brand: str, show_faces: bool = False) -> ReportData:
    """Gather a report's numbers for ``filters`` (pictures come from ``media``).

    Args:
        show_faces: images show faces unblurred (internal use); by default every face that
            is not a consenting ambassador's is blurred.
    """
    overall = sd.page_data(session=session, filters=filters)
    k = overall.kpis()
    prev_f = filters.previous_period()
    p = sd.page_data(session=session, filters=prev_f).kpis() if prev_f else None
    groups: dict[str, list[GroupSummary]] = {}
    for g in (dq.GroupBy.CAMPAIGN, dq.GroupBy.CHANNEL, dq.GroupBy.AMBASSADOR):
        names = dq.group_names(session=session, group=g, filters=filters)
        per: dict[str, dict[str, int]] = {}
        for r in sd.page_data(session=session, filters=filters, group=g).distribution():
            per.setdefault(r.key, {})[r.label] = r.count
        groups[g.value] = [GroupSummary(names.get(key, key), c) for key, c in
                           sorted(per.items(), key=lambda kv: names.get(kv[0], kv[0]))]
    top = {lbl: list(da.top_assets(session=session, filters=filters, label=lbl, limit=3))
           for lbl in LABELS if lbl != UNCERTAIN and k.counts.get(lbl)}
    period = (f"{filters.date_from or 'first post'} to {filters.date_to or 'last post'}")
    runs = dq.selection_runs(session=session, filters=filters)
    blur = {} if show_faces else faces_to_blur(
        session=session, asset_ids=[a for items in top.values() for a, _, _ in items])
    return ReportData(
        brand=brand, period=period,
        model_versions=sorted({f"{r.model_name}@{r.model_version}" for r in runs}),
        uncertainty_rule=rule_text(runs), counts=k.counts, kpis=_kpi_rows(k, p),
        groups=groups, trend=[(r.key, r.label, r.count) for r in overall.trend()],
        top_assets=top,
        faces=lambda: export.iter_face_rows(session=session, filters=filters),
        assets=lambda: export.iter_asset_rows(session=session, filters=filters),
        use_reviews=filters.use_reviews, media=media, show_faces=show_faces,
        blur_boxes=blur)


# ---------------------------------------------------------------------------- CSV / Excel

def _plain(v):
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def rows_csv(rows: Iterable[NamedTuple]) -> bytes:
    """CSV (UTF-8, header from the rows' field names) of streamed rows; empty → empty bytes."""
    buf = io.StringIO()
    writer = None
    for row in rows:
        if writer is None:
            writer = csv.writer(buf)
            writer.writerow(row._fields)
        writer.writerow([_plain(v) for v in row])
    return buf.getvalue().encode("utf-8")


def faces_csv(data: ReportData) -> bytes:
    """One row per counted face: asset fields, box, label, confidence, 8 probabilities."""
    return rows_csv(data.faces())


def assets_csv(data: ReportData) -> bytes:
    """One row per selected asset with its engagement and faces per label."""
    return rows_csv(data.assets())


def _summary_rows(groups: list[GroupSummary]) -> Iterator[list]:
    yield ["group", "faces", *(f"{lbl} faces" for lbl in LABELS),
           *(f"{lbl} share" for lbl in LABELS)]
    for g in groups:
        sh = shares(g.counts)
        yield [g.name, g.faces, *(s.count for s in sh), *(round(s.share, 4) for s in sh)]


def excel_report(data: ReportData) -> bytes:
    """Workbook: Summary, By campaign / channel / ambassador, Trend, Assets and Faces (raw)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Summary")
    ws.append([f"brandmood report: {data.brand}"])
    ws.append(["Period", data.period])
    ws.append(["Model", ", ".join(data.model_versions) or "none"])
    ws.append(["Uncertainty rule", data.uncertainty_rule])
    ws.append(["Labels", "reviewed labels over model labels" if data.use_reviews
               else "model labels"])
    ws.append([])
    ws.append(["KPI", "value", "change vs previous period"])
    for row in data.kpis:
        ws.append(list(row))
    for name, groups in data.groups.items():
        sheet = wb.create_sheet(f"By {name}")
        for row in _summary_rows(groups):
            sheet.append(row)
    trend = wb.create_sheet("Trend")
    trend.append(["week start", "label", "faces"])
    for row in data.trend:
        trend.append(list(row))
    for title, rows in (("Assets", data.assets()), ("Faces", data.faces())):
        sheet = wb.create_sheet(title)
        for i, row in enumerate(rows):
            if i == 0:
                sheet.append(list(row._fields))
            if i >= EXCEL_MAX_ROWS - 1:
                sheet.append([f"truncated at {EXCEL_MAX_ROWS:,} rows: use the CSV export"])
                break
            sheet.append([_plain(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------- PDF

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


class ChartExportError(RuntimeError):
    """Charts could not be rendered to images (kaleido needs Chromium)."""


def chart_images(figs: list, folder: Path, *, width: int = 1000, height: int = 420) -> list[Path]:
    """Render plotly figures to PNG files in one Chromium session (plotly + kaleido).

    Raises:
        ChartExportError: with the cause, where kaleido or Chromium fails.
    """
    import plotly.io as pio

    paths = [folder / f"chart-{i}.png" for i in range(len(figs))]
    if not figs:
        return paths
    try:
        pio.write_images(figs, paths, format="png", width=width, height=height, scale=1.5)
    except Exception as exc:
        raise ChartExportError(f"chart export failed ({type(exc).__name__}: {exc}); run "
                               "scripts/install-system-deps.sh for Chromium") from None
    return paths


def report_figures(data: ReportData) -> list:
    """The report's charts: overall share, share per campaign / channel, trend."""
    from brandmood.services import charts

    figs = [charts.single_share_bar(data.counts, title="Emotion share of all faces")]
    for name in ("campaign", "channel", "ambassador"):
        groups = data.groups.get(name) or []
        if groups:
            rows = [sd.GroupCount(g.name, lbl, n) for g in groups for lbl, n in g.counts.items()]
            figs.append(charts.share_bars(rows, {g.name: g.name for g in groups},
                                          title=f"Emotion share per {name}"))
    if data.trend:
        figs.append(charts.trend_chart([sd.GroupCount(*t) for t in data.trend]))
    return figs


class _Pdf:
    """fpdf2 document with a Unicode font where DejaVu is installed."""

    def __init__(self) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(True, margin=15)
        self.unicode = (DEJAVU / "DejaVuSans.ttf").exists()
        if self.unicode:
            self.pdf.add_font("DejaVu", "", str(DEJAVU / "DejaVuSans.ttf"))
            self.pdf.add_font("DejaVu", "B", str(DEJAVU / "DejaVuSans-Bold.ttf"))
        self.family = "DejaVu" if self.unicode else "Helvetica"

    def text(self, s: str) -> str:
        return s if self.unicode else s.encode("latin-1", "replace").decode("latin-1")

    def heading(self, s: str, size: int = 16) -> None:
        self.pdf.set_font(self.family, "B", size)
        self.pdf.multi_cell(0, size * 0.55, self.text(s), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)

    def para(self, s: str, size: int = 10) -> None:
        self.pdf.set_font(self.family, "", size)
        self.pdf.multi_cell(0, 5, self.text(s), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def table(self, rows: list[tuple[str, ...]]) -> None:
        self.pdf.set_font(self.family, "", 10)
        with self.pdf.table(first_row_as_headings=True) as table:
            for row in rows:
                r = table.row()
                for cell in row:
                    r.cell(self.text(str(cell)))


def _thumb_jpeg(media: MediaStore | None, relpath: str, size: int = 240, *,
                blur: list[Box] | None = None) -> io.BytesIO | None:
    """A stored image's JPEG thumbnail (upright RGB, long side ``size``, quality 85) with
    the faces at ``blur`` blurred; None if unreadable.

    Unblurred thumbnails (``blur`` None) are the dashboard's and are kept beside the image
    in the store once made; blurred ones are made afresh (who consents can change).
    """
    if media is None:
        return None
    try:
        if blur is None:
            key = derived_key(relpath, f"thumb-{size}.jpg")
            data = media.get_derived(key)
            if data is None:
                data = _thumb_bytes(media.read_bytes(relpath), size, None)
                media.put_derived(key, data)
        else:
            data = _thumb_bytes(media.read_bytes(relpath), size, blur)
    except (OSError, ValueError, MediaStoreError):
        return None
    return io.BytesIO(data)


def _media_removed(media: MediaStore | None, relpath: str) -> bool:
    """The asset's file is gone from the store (the retention policy removed it)."""
    try:
        return media is not None and not media.exists(relpath)
    except (OSError, MediaStoreError):
        return False


def _thumb_bytes(raw: bytes, size: int, blur: list[Box] | None) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(raw)) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        if blur is not None:  # on the full-size pixels, where the boxes are
            im = Image.fromarray(blur_faces(np.asarray(im),
                                            np.asarray(blur, np.float64).reshape(-1, 4)))
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def pdf_report(data: ReportData, *, charts: bool = True) -> bytes:
    """The brand report: title and period, KPI table, charts, top assets, methodology.

    Raises:
        ChartExportError: where ``charts`` is True and the charts cannot be rendered.
    """
    import tempfile

    doc = _Pdf()
    pdf = doc.pdf
    pdf.set_title(doc.text(f"Brand emotion report: {data.brand}"))
    pdf.set_subject(doc.text(data.faces_note))
    pdf.set_keywords("brandmood; " + ("faces shown unblurred (internal use)" if data.show_faces
                                      else "faces blurred"))
    pdf.add_page()
    doc.heading(f"Brand emotion report: {data.brand}", 20)
    doc.para(f"Period: {data.period}")
    doc.para(f"Model: {', '.join(data.model_versions) or 'none (nothing analyzed)'}")
    doc.para(f"Generated {data.generated_at:%Y-%m-%d %H:%M} UTC by brandmood.")
    doc.heading("Key figures", 14)
    doc.table([("KPI", "Value", "Change vs previous period"), *data.kpis])
    with tempfile.TemporaryDirectory(prefix="bm-report-") as tmp:
        if charts and sum(data.counts.values()):
            for path in chart_images(report_figures(data), Path(tmp)):
                pdf.add_page()
                pdf.image(str(path), w=pdf.epw)
    _top_assets_pages(doc, data)
    _methodology_page(doc, data)
    return bytes(pdf.output())


def _top_assets_pages(doc: _Pdf, data: ReportData) -> None:
    if not data.top_assets:
        return
    pdf = doc.pdf
    pdf.add_page()
    doc.heading("Top assets per emotion", 14)
    doc.para("The image assets with the most confident face of each emotion.")
    for label, items in data.top_assets.items():
        if pdf.get_y() > 220:
            pdf.add_page()
        doc.heading(label, 12)
        y = pdf.get_y()
        x = pdf.l_margin
        for asset_id, relpath, conf in items:
            boxes = data.blur_boxes.get(asset_id)
            if boxes is None and not data.show_faces:
                continue  # faces not known: never shown unblurred by default
            img = _thumb_jpeg(data.media, relpath, blur=None if data.show_faces else boxes)
            if img is None and not _media_removed(data.media, relpath):
                continue
            if img is None:  # its faces still count; say why there is no picture
                pdf.set_xy(x, y + 16)
                pdf.set_font(doc.family, "", 8)
                pdf.multi_cell(55, 4, doc.text(f"thumbnail {REMOVED_BY_POLICY}"))
            else:
                pdf.image(img, x=x, y=y, h=40)
            pdf.set_xy(x, y + 41)
            pdf.set_font(doc.family, "", 8)
            pdf.cell(55, 4, doc.text(f"asset #{asset_id}, {conf:.0%}"))
            x += 60
        pdf.set_xy(pdf.l_margin, y + 48)


def _methodology_page(doc: _Pdf, data: ReportData) -> None:
    doc.pdf.add_page()
    doc.heading("Methodology and limitations", 14)
    doc.para(f"Model version: {', '.join(data.model_versions) or 'none'}. Faces are found by "
             "a face detector (MTCNN), aligned, and classified into eight emotion labels "
             "(neutral, happy, sad, surprise, fear, anger, disgust, contempt); a model that "
             "does not predict a label leaves it empty rather than zero.")
    doc.para(f"Uncertainty rule: {data.uncertainty_rule}. Such faces are reported as "
             "'uncertain' (gray in the charts) rather than forced into a label.")
    doc.para("Labels: " + ("where a person reviewed a face, the reviewed label replaces the "
                           "model's." if data.use_reviews else "model labels only."))
    doc.para(data.faces_note)
    doc.para("Shares are of counted faces; intervals are 95% Wilson intervals for shares and "
             "95% t intervals for engagement means. Each asset counts under its most frequent "
             "label for engagement. Engagement figures show association, not cause.")
    doc.para("Limitations: emotion recognition reads facial appearance, not inner feeling. "
             "Posed, partial, small, blurred or profile faces, make-up, filters and cultural "
             "differences in expression lower accuracy; models trained on public datasets "
             "can be less accurate for some groups of people. Treat the numbers as a "
             "description of the creative, and check individual faces on the Review page.")
