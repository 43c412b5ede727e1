"""Every query of the app lives in this package (pages and jobs call these functions).

Submodules by concern: :mod:`.core` (brands, campaigns, channels, ambassadors, assets),
:mod:`.selection` (a dashboard selection and the one counted-face rule), :mod:`.faces`
(the one stored-face record and its ``SELECT``), and the modules each part of the app adds
(analysis, ingest, dashboard, dashboard_cube, dashboard_assets, export, review, identity).
All functions are keyword-only and take an explicit ``Session``.
"""
