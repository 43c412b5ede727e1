"""Sidebar filters shared by every page, mirrored in the URL query string.

The widgets live in ``app.py`` (rendered on every run, whatever the page), so their
values survive page switches; a shared link restores them from ``st.query_params``.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from brandmood.core.access import refusal
from brandmood.ui import auth
from db.models import Platform
from db.queries.core import list_brands
from db.queries.dashboard import brand_options
from db.queries.review import SettingKey, get_setting
from db.queries.selection import DashboardFilters

PARAMS = ("brand", "campaigns", "channels", "ambassadors", "platforms", "from", "to",
          "min_conf", "uncertain", "reviews")
"""Query-string keys this module owns (other keys, e.g. ``asset``, are left alone)."""

_STATE = "bm_filters"


def _ids(text: str | None) -> list[int]:
    out = []
    for part in (text or "").split(","):
        if part.strip().isdigit():
            out.append(int(part))
    return out


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _seed(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _seed_from_url(brands: dict[int, str], use_reviews_default: bool) -> list[str]:
    """On a session's first run, give the widgets the values the URL carries.

    Returns:
        Refusals for what the URL names outside the user's brands (a brand they may
        not see, or one that does not exist: the same words for both).
    """
    if st.session_state.get("bm_seeded"):
        return []
    refused = []
    qp = st.query_params
    by_name = {v: k for k, v in brands.items()}
    if qp.get("brand") in by_name:
        _seed("f_brand", by_name[qp["brand"]])
    elif qp.get("brand"):
        refused.append(refusal(f"the brand {qp['brand']!r}"))
    for key in ("campaigns", "channels", "ambassadors"):
        if key in qp and f"f_{key}" not in st.session_state:
            st.session_state[f"f_{key}_url"] = _ids(qp.get(key))
    if "platforms" in qp:
        valid = {p.value for p in Platform}
        _seed("f_platforms", [p for p in qp["platforms"].split(",") if p in valid])
    _seed("f_from", _date(qp.get("from")))
    _seed("f_to", _date(qp.get("to")))
    try:
        _seed("f_min_conf", min(1.0, max(0.0, float(qp.get("min_conf", 0)))))
    except ValueError:
        _seed("f_min_conf", 0.0)
    _seed("f_uncertain", qp.get("uncertain", "1") != "0")
    _seed("f_reviews", qp.get("reviews") == "1" if "reviews" in qp else use_reviews_default)
    st.session_state["bm_seeded"] = True
    return refused


def _multiselect(label: str, key: str, options: dict[int, str],
                 refused: list[str]) -> list[int]:
    url_key, widget = f"f_{key}_url", f"f_{key}"
    if url_key in st.session_state:
        ids = st.session_state.pop(url_key)
        refused += [refusal(f"{key.removesuffix('s')} #{i}") for i in ids if i not in options]
        st.session_state[widget] = [i for i in ids if i in options]
    elif any(i not in options for i in st.session_state.get(widget, [])):
        # another brand was picked: drop the previous brand's choices
        st.session_state[widget] = [i for i in st.session_state[widget] if i in options]
    return st.multiselect(label, list(options), format_func=lambda i: options.get(i, str(i)),
                          key=f"f_{key}", placeholder="all")


def sidebar_filters() -> DashboardFilters | None:
    """Render the filters in the sidebar and mirror them in the URL.

    Only the brands the user may see are offered; a URL naming another brand (or its
    campaigns, channels, ambassadors) is refused with a message, and the run stops.

    Returns:
        The selection, or None while the workspace has no brand (that the user may see).
    """
    scope = auth.scope()
    with auth.session() as s:
        brands = {b.id: b.name for b in list_brands(session=s, scope=scope)}
        use_reviews_default = get_setting(session=s, key=SettingKey.USE_REVIEWS) == "1"
    if not brands:
        st.session_state[_STATE] = None
        return None
    refused = _seed_from_url(brands, use_reviews_default)
    with st.sidebar:
        st.header("Filters")
        if st.session_state.get("f_brand") not in brands:
            st.session_state["f_brand"] = next(iter(brands))
        brand_id = st.selectbox("Brand", list(brands), format_func=brands.get, key="f_brand")
        with auth.session() as s:
            opts = brand_options(session=s, brand_id=brand_id, scope=scope)
        campaigns = _multiselect("Campaigns", "campaigns", opts["campaign"], refused)
        channels = _multiselect("Channels", "channels", opts["channel"], refused)
        ambassadors = _multiselect("Ambassadors", "ambassadors", opts["ambassador"], refused)
        platforms = st.multiselect("Platforms", [p.value for p in Platform], key="f_platforms",
                                   placeholder="all")
        c1, c2 = st.columns(2)
        d_from = c1.date_input("From", value=None, key="f_from")
        d_to = c2.date_input("To", value=None, key="f_to")
        if d_from and d_to and d_to < d_from:
            st.warning("'To' is before 'From': the date range is ignored.")
            d_from = d_to = None
        min_conf = st.slider("Minimum face confidence", 0.0, 1.0, step=0.05, key="f_min_conf")
        unc = st.checkbox("Include uncertain faces", key="f_uncertain")
        rev = st.toggle("Use reviewed labels over model labels", key="f_reviews")
    filters = DashboardFilters(
        brand_id=brand_id, campaign_ids=tuple(campaigns), channel_ids=tuple(channels),
        ambassador_ids=tuple(ambassadors), platforms=tuple(Platform(p) for p in platforms),
        date_from=d_from, date_to=d_to, min_confidence=float(min_conf),
        include_uncertain=bool(unc), use_reviews=bool(rev), scope=scope)
    _write_url(filters, brands)
    st.session_state[_STATE] = filters
    for message in refused:  # shown once: the URL now names what the sidebar shows
        auth.show_refusal(message)
    if refused:
        st.stop()
    return filters


def _write_url(f: DashboardFilters, brands: dict[int, str]) -> None:
    want = {
        "brand": brands.get(f.brand_id or -1, ""),
        "campaigns": ",".join(map(str, f.campaign_ids)),
        "channels": ",".join(map(str, f.channel_ids)),
        "ambassadors": ",".join(map(str, f.ambassador_ids)),
        "platforms": ",".join(p.value for p in f.platforms),
        "from": f.date_from.isoformat() if f.date_from else "",
        "to": f.date_to.isoformat() if f.date_to else "",
        "min_conf": f"{f.min_confidence:g}" if f.min_confidence else "",
        "uncertain": "" if f.include_uncertain else "0",
        "reviews": "1" if f.use_reviews else "",
    }
    for key, value in want.items():
        if value and st.query_params.get(key) != value:
            st.query_params[key] = value
        elif not value and key in st.query_params:
            del st.query_params[key]


def current_filters() -> DashboardFilters | None:
    """The selection ``sidebar_filters`` made on this run (None: no brand yet)."""
    return st.session_state.get(_STATE)
