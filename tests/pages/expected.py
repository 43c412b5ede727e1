"""Expected numbers computed independently of the query module, with plain SQL text."""

from __future__ import annotations

from sqlalchemy import text

FEB = "a.posted_at >= '2025-02-01' AND a.posted_at < '2025-03-01'"
JAN = "a.posted_at >= '2025-01-04' AND a.posted_at < '2025-02-01'"

# A face counts when its run is its asset's newest analyzed run (correlated subquery,
# unlike the module's GROUP BY join) and it has a model label.
_COUNTED = """
FROM face f JOIN asset a ON a.id = f.asset_id
LEFT JOIN (SELECT r.face_id, r.label FROM review r
           WHERE r.id = (SELECT max(r2.id) FROM review r2 WHERE r2.face_id = r.face_id)) rv
       ON rv.face_id = f.id
WHERE f.run_id = (SELECT max(aa.run_id) FROM asset_analysis aa
                  WHERE aa.asset_id = f.asset_id AND aa.status = 'analyzed')
  AND f.dominant IS NOT NULL AND a.brand_id = :brand
"""


def counted_faces(ws, *, brand: int, where: str = "", **params) -> int:
    """Faces of a brand's current runs that also satisfy ``where`` (SQL on f, a, rv)."""
    sql = f"SELECT count(*) {_COUNTED} {('AND ' + where) if where else ''}"
    with ws.engine.connect() as conn:
        return int(conn.execute(text(sql), {"brand": brand, **params}).scalar())


def label_counts(ws, *, brand: int, reviews: bool = False, where: str = "",
                 **params) -> dict[str, int]:
    """Faces per label; flagged faces as 'uncertain'; reviews override when asked."""
    model = "CASE WHEN f.uncertain THEN 'uncertain' ELSE f.dominant END"
    label = f"COALESCE(rv.label, {model})" if reviews else model
    sql = (f"SELECT {label} AS lbl, count(*) {_COUNTED} "
           f"{('AND ' + where) if where else ''} GROUP BY lbl")
    with ws.engine.connect() as conn:
        return {str(k): int(n) for k, n in conn.execute(text(sql), {"brand": brand, **params})}


def assets_with_label(ws, *, brand: int, label: str) -> int:
    """Assets with at least one counted face of ``label`` (model labels)."""
    sql = (f"SELECT count(DISTINCT a.id) {_COUNTED} AND "
           "(CASE WHEN f.uncertain THEN 'uncertain' ELSE f.dominant END) = :label")
    with ws.engine.connect() as conn:
        return int(conn.execute(text(sql), {"brand": brand, "label": label}).scalar())


def scalar(ws, sql: str, **params):
    with ws.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
