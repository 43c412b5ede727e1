"""Every query of the app lives in this package (pages and jobs call these functions).

Submodules by concern: :mod:`.core` (brands, campaigns, channels, ambassadors, assets),
and the modules each part of the app adds (analysis, ingest, dashboard, identity).
All functions are keyword-only and take an explicit ``Session``.
"""
