"""Building blocks the pages are laid out from: KPI cards, group pages, captions, empty states."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from analytics.aggregate import change
from brandmood.core.access import Permission
from brandmood.services import charts
from brandmood.services.dashboard import Period
from brandmood.services.model_quality import uncertain_note
from brandmood.ui import auth, data
from brandmood.ui.filters import current_filters
from db.queries.dashboard import ENGAGEMENT_METRICS, GroupBy, group_names
from db.queries.selection import DashboardFilters

NO_BRAND = ("**No data yet.** Go to **Upload** to add your brand's images, videos or a zip "
            "file, or load the demo workspace from a terminal: `brandmood demo`.")
NO_FACES = ("No analyzed faces match these filters. Widen the filters in the sidebar, or go to "
            "**Upload** / **Jobs** to analyze pending assets (`brandmood analyze`).")


def require_filters(permission: Permission = Permission.VIEW) -> DashboardFilters | None:
    """The sidebar's selection, or None after showing what a new user should do.

    Args:
        permission: what the page does with it: the selection is narrowed to the brands
            where the user holds it, and a brand where they do not is refused (the run
            stops with the reason).
    """
    f = current_filters()
    if f is None:
        st.info(NO_BRAND)
        return None
    if permission is not Permission.VIEW:
        auth.require(permission, f.brand_id)
        f = replace(f, scope=auth.scope(permission))
    return f


def model_caption(filters: DashboardFilters | None) -> None:
    """Name the model version(s) behind the numbers on the page."""
    if filters is None:
        st.caption("Model: none yet — nothing has been analyzed.")
        return
    versions = data.model_versions(filters)
    text = ", ".join(versions) if versions else "none yet — nothing analyzed in this selection"
    labels = "reviewed labels where a person reviewed a face, else " if filters.use_reviews else ""
    st.caption(f"Numbers from {labels}model: {text}")


def _fmt_delta(cur: float, prev: float | None, *, pct: bool) -> str | None:
    c = change(cur, prev)
    if c.delta is None:
        return None
    return f"{c.delta * 100:+.1f} pp" if pct else f"{c.delta:+,.0f}"


def kpi_cards(filters: DashboardFilters) -> None:
    """Six KPI cards, with the change against the previous period where a range is set."""
    k = data.kpis(filters)
    prev_f = filters.previous_period()
    p = data.kpis(prev_f) if prev_f else None
    cols = st.columns(6)
    cols[0].metric("Assets", f"{k.assets:,}", _fmt_delta(k.assets, p and p.assets, pct=False))
    cols[1].metric("Faces", f"{k.faces:,}", _fmt_delta(k.faces, p and p.faces, pct=False))
    cols[2].metric("Posts with faces", f"{k.face_post_share:.0%}",
                   _fmt_delta(k.face_post_share, p and p.face_post_share, pct=True))
    cols[3].metric("Dominant emotion", k.dominant or "—",
                   f"was {p.dominant}" if p and p.dominant and p.dominant != k.dominant
                   else None, delta_color="off")
    cols[4].metric("Positive share", f"{k.positive_share:.0%}",
                   _fmt_delta(k.positive_share, p and p.positive_share, pct=True))
    cols[5].metric("Uncertain share", f"{k.uncertain_share:.0%}",
                   _fmt_delta(k.uncertain_share, p and p.uncertain_share, pct=True),
                   delta_color="inverse")
    if prev_f is None:
        st.caption("Set a date range in the sidebar to compare with the previous period.")
    else:
        st.caption(f"Changes against {prev_f.date_from} – {prev_f.date_to}.")
    note = uncertain_note(data.model_versions(filters))
    if note:
        st.caption(f"Uncertain share: {note}")


def trend_section(filters: DashboardFilters, key: str, group: GroupBy | None = None) -> None:
    """Emotion share over time with a period picker (``group``: the group page's data)."""
    period = st.segmented_control("Period", [p.value for p in Period], default="week",
                                  key=f"{key}_period") or "week"
    rows = data.trend(filters, Period(period), group)
    if rows:
        st.plotly_chart(charts.trend_chart(rows), key=f"{key}_trend")
    else:
        st.info("No dated faces in this selection, so there is no trend to draw.")


def group_page(group: GroupBy, title: str) -> None:
    """Distribution per group, comparison of chosen groups, trend, emotion × engagement."""
    st.title(title)
    filters = require_filters()
    model_caption(filters)
    if filters is None:
        return
    rows = data.distribution(filters, group)
    if not rows:
        st.info(NO_FACES)
        return
    names = _names(group, filters)
    st.plotly_chart(charts.share_bars(rows, names, title=f"Emotion share per {group.value}"),
                    key=f"{group.value}_dist")
    keys = sorted({r.key for r in rows}, key=lambda k: names.get(k, k))
    st.subheader("Compare")
    chosen = st.multiselect(f"Pick two or more {group.value}s to compare side by side", keys,
                            default=keys[:2], format_func=lambda k: names.get(k, k),
                            key=f"{group.value}_cmp")
    if len(chosen) >= 2:
        cols = st.columns(len(chosen))
        for col, k in zip(cols, chosen, strict=True):
            sub = [r for r in rows if r.key == k]
            col.plotly_chart(charts.share_bars(sub, names, title=names.get(k, k)),
                             key=f"{group.value}_cmp_{k}")
    else:
        st.caption("Choose at least two to compare.")
    st.subheader("Trend")
    trend_section(filters, group.value, group)
    engagement_section(filters, group.value, group)


def _names(group: GroupBy, filters: DashboardFilters) -> dict[str, str]:
    with auth.session() as s:
        return group_names(session=s, group=group, filters=filters)


def engagement_section(filters: DashboardFilters, key: str, group: GroupBy) -> None:
    """Emotion × engagement: mean, median, n and 95 % interval per dominant emotion."""
    st.subheader("Emotion × engagement")
    rows = data.engagement(filters, group)
    if not rows:
        st.info("No assets with faces and engagement numbers in this selection.")
        return
    metric = st.segmented_control("Metric", list(ENGAGEMENT_METRICS), default="likes",
                                  key=f"{key}_metric") or "likes"
    if not any(r.metrics[metric].n for r in rows):
        st.info(f"No asset in this selection has {metric} numbers (uploads have none; "
                "ingest from a feed or a manifest to get them).")
        return
    st.plotly_chart(charts.engagement_chart(rows, metric), key=f"{key}_eng_{metric}")
    table = [{"dominant emotion": r.label, "assets": r.assets,
              **{f"{m} mean": round(r.metrics[m].mean, 1) for m in ENGAGEMENT_METRICS},
              **{f"{m} median": r.metrics[m].median for m in ENGAGEMENT_METRICS}}
             for r in rows]
    st.dataframe(table, hide_index=True)
    st.caption("Each asset counts once, under the most frequent label among its faces. "
               "Intervals are 95% t intervals of the mean; correlation, not causation.")
