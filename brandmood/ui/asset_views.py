"""The Assets page's views: the filtered gallery and one asset with its faces."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from brandmood.core.access import AccessDenied
from brandmood.core.types import EMOTIONS, LABELS
from brandmood.services.charts import EMOTION_COLORS
from brandmood.ui import auth, data, media
from brandmood.ui.data import workspace
from db.models import AssetKind
from db.queries.dashboard_assets import AssetDetail, asset_detail
from db.queries.erasure import last_erasure_id
from db.queries.faces import StoredFace
from db.queries.selection import DashboardFilters

PAGE_SIZE = 24
NA = "n/a — model has no such class"


@st.cache_data(show_spinner=False, max_entries=2000)
def _thumb(location: str, relpath: str, kind: str, erased: int, size: int = 320):
    """A tile's thumbnail (``location`` keys the cache by media store, ``erased`` by the
    last erasure or retention pass, which may have removed it); a text where there is
    none (removed by the retention policy, or unreadable)."""
    try:
        return media.stored_thumbnail(workspace().media, relpath, AssetKind(kind), size)
    except media.MediaRemovedError:
        return f"thumbnail {media.REMOVED_BY_POLICY}"
    except media.MediaError:
        return "media file unreadable"


def open_asset(asset_id: int) -> None:
    st.query_params["asset"] = str(asset_id)


def gallery(filters: DashboardFilters) -> None:
    """Filter widgets and a grid of asset tiles with an Open button each."""
    c1, c2 = st.columns([3, 1])
    labels = c1.multiselect("Faces showing", list(LABELS), key="gal_labels", placeholder="any")
    total, _ = data.gallery(filters, labels=tuple(labels), limit=1, offset=0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = c2.number_input(f"Page (of {pages})", 1, pages, 1, key="gal_page")
    total, items = data.gallery(filters, labels=tuple(labels), limit=PAGE_SIZE,
                         offset=(int(page) - 1) * PAGE_SIZE)
    st.caption(f"{total:,} assets match. Use the sidebar for channel, campaign, ambassador, "
               "date and confidence; pick emotions above.")
    if not items:
        st.info("No assets match these filters. Widen them, or add assets on **Upload**.")
        return
    ws = workspace()
    with ws.session() as s:
        erased = last_erasure_id(session=s)
    cols = st.columns(4)
    for i, item in enumerate(items):
        col = cols[i % 4]
        thumb = _thumb(ws.media.location, item.media_path, item.kind.value, erased)
        if isinstance(thumb, str):
            col.info(thumb)
        else:
            col.image(thumb)
        when = item.posted_at.date().isoformat() if item.posted_at else "undated"
        label = item.label or ("not analyzed" if item.status.value != "analyzed" else "no face")
        col.caption(f"#{item.asset_id} · {item.kind.value} · {when} · {item.faces} faces · "
                    f"{label}")
        col.button(f"Open #{item.asset_id}", key=f"open_{item.asset_id}",
                   on_click=open_asset, args=(item.asset_id,))


def detail(asset_id: int, *, use_reviews: bool) -> None:
    """One asset: faces drawn with labels, probability table, video timeline (an asset
    outside the user's brands, or none: a refusal)."""
    try:
        with auth.session() as s:
            d = asset_detail(session=s, asset_id=asset_id, scope=auth.scope())
    except AccessDenied as exc:
        auth.show_refusal(exc)
        return
    a = d.asset
    st.subheader(f"Asset #{a.id} · {a.kind.value}")
    st.caption(" · ".join(x for x in (
        f"posted {a.posted_at:%Y-%m-%d}" if a.posted_at else "undated",
        f"campaign {d.campaign}" if d.campaign else "", f"channel {d.channel}" if d.channel else "",
        f"ambassador {d.ambassador}" if d.ambassador else "",
        f"likes {a.likes}" if a.likes is not None else "",
        f"model {d.run_label}" if d.run_label else "not analyzed yet") if x))
    if a.error:
        st.error(f"Analysis failed: {a.error}")
    if a.kind is AssetKind.IMAGE:
        _still(a.media_path, d, use_reviews)
    else:
        _video(a.media_path, d, use_reviews)
    face_table(d.faces, d.reviews)


def _still(relpath: str, d: AssetDetail, use_reviews: bool) -> None:
    try:
        img = media.load_still(workspace().media, relpath)
    except media.MediaRemovedError as exc:
        st.info(str(exc))
        return
    except media.MediaError as exc:
        st.error(str(exc))
        return
    st.image(media.draw_faces(img, d.faces, reviews=d.reviews if use_reviews else None),
             caption=f"{len(d.faces)} faces")


def _video(relpath: str, d: AssetDetail, use_reviews: bool) -> None:
    duration = float(d.asset.duration_s or 0) or max(
        (f.timestamp_ms / 1000 for f in d.faces), default=0.0)
    if d.faces:
        st.plotly_chart(timeline(d.faces), key=f"timeline_{d.asset.id}")
    second = st.slider("Preview at second", 0.0, max(duration, 0.1), 0.0, step=0.5,
                       key=f"sec_{d.asset.id}")
    try:
        img = media.video_frame(workspace().media, relpath, second)
    except media.MediaRemovedError as exc:
        st.info(str(exc))
        return
    except media.MediaError as exc:
        st.error(str(exc))
        return
    stamps = sorted({f.timestamp_ms for f in d.faces})
    near = min(stamps, key=lambda t: abs(t - second * 1000)) if stamps else None
    shown = [f for f in d.faces if f.timestamp_ms == near]
    st.image(media.draw_faces(img, shown, reviews=d.reviews if use_reviews else None),
             caption=f"frame at {second:.1f}s; boxes from the sample at "
                     f"{(near or 0) / 1000:.1f}s")


def timeline(faces: list[StoredFace]) -> go.Figure:
    """Emotion per face track over time (one row per track, labels as text)."""
    fig = go.Figure()
    for label in LABELS:
        pts = [f for f in faces if f.row.label == label]
        if not pts:
            continue
        fig.add_scatter(x=[f.timestamp_ms / 1000 for f in pts],
                        y=[f"track {'-' if f.row.track_id is None else f.row.track_id}"
                           for f in pts],
                        mode="markers+text", name=label, text=[label] * len(pts),
                        textposition="top center", marker={"color": EMOTION_COLORS[label],
                                                           "size": 12, "symbol": "square"})
    fig.update_layout(title="Emotion timeline per face track", height=300,
                      xaxis_title="seconds", template="plotly_white")
    return fig


def face_table(faces: list[StoredFace], reviews: dict[int, str]) -> None:
    """The eight probabilities of every face; classes the model lacks shown as n/a.

    Args:
        reviews: face id → the consensus label of its reviews.
    """
    if not faces:
        st.info("No faces were found in this asset (or it has not been analyzed yet).")
        return
    rows = []
    for f in faces:
        conf = f.row.confidence
        row = {"face": f"#{f.face_id}", "t (s)": f.timestamp_ms / 1000,
               "track": f.row.track_id, "label": f.row.label,
               "reviewed": reviews.get(f.face_id, ""),
               "confidence": f"{conf:.2f}" if conf is not None else NA}
        for e, p in zip(EMOTIONS, f.row.probs, strict=True):
            row[e.value] = f"{p:.3f}" if p is not None else NA
        rows.append(row)
    st.dataframe(rows, hide_index=True)
