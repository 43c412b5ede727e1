"""Streamlit helpers shared by every dashboard page: data access with caching, the sidebar
filters (mirrored in the URL), charts, and common views (KPI cards, empty states)."""
