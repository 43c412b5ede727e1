"""Expected numbers computed independently of the query modules.

Every table the tests filled is read back whole (``SELECT *``, no join, no condition),
and the rules the app documents are applied here in plain Python: which faces count
(:func:`counted`), a face's label (the consensus of its reviews: :func:`majority`), a
face's ambassador (:func:`ambassador_of`), the
review queue's order (:func:`review_queue`). Nothing here reuses the app's SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text

from db.models import Asset, AssetAnalysis, AssetStatus, Face, Review, Setting

Row = dict[str, Any]


def rows(ws, model) -> list[Row]:
    """Every row of a table as a dict, by id."""
    with ws.session() as s:
        rows = [dict(r._mapping) for r in s.execute(select(model.__table__))]
    return sorted(rows, key=lambda r: r.get("id") or 0)


@dataclass(frozen=True)
class Seen:
    """A stored face as a test sees it: its row, its asset's row, the consensus of its
    reviews (None: none, too few or disputed) and who reviewed it."""

    f: Row
    a: Row
    review: str | None
    reviewers: frozenset[str] = frozenset()

    def label(self, reviews: bool = False) -> str:
        """The reviewed label (with ``reviews``, where reviewed), else ``uncertain`` where
        flagged, else the model's top emotion."""
        if reviews and self.review is not None:
            return self.review
        return "uncertain" if self.f["uncertain"] else self.f["dominant"].value


Where = Callable[[Seen], bool]


def day(a: Row) -> str | None:
    """An asset's UTC posting day ``YYYY-MM-DD`` (None: undated)."""
    t: datetime | None = a["posted_at"]
    if t is None:
        return None
    return (t.astimezone(UTC) if t.tzinfo else t).date().isoformat()


def in_feb(s: Seen) -> bool:
    return (day(s.a) or "").startswith("2025-02")


def in_jan_4_to_31(s: Seen) -> bool:
    """The 28 days before February (the previous period of February 2025)."""
    return "2025-01-04" <= (day(s.a) or "") <= "2025-01-31"


def counted(ws, *, brand: int | None = None) -> list[Seen]:
    """The faces the app counts (model labels, no face filter), by id: for each asset, the
    faces of its newest analyzed run (the highest run id among its ``analyzed`` outcomes)
    that have a model label."""
    assets = {a["id"]: a for a in rows(ws, Asset) if brand is None or a["brand_id"] == brand}
    current: dict[int, int] = {}
    for aa in rows(ws, AssetAnalysis):
        if aa["status"] == AssetStatus.ANALYZED:
            current[aa["asset_id"]] = max(current.get(aa["asset_id"], 0), aa["run_id"])
    votes: dict[int, dict[str, str]] = {}
    for r in rows(ws, Review):
        votes.setdefault(r["face_id"], {})[r["reviewer"]] = r["label"].value
    k = reviews_per_face(ws)
    return [Seen(f, assets[f["asset_id"]], majority(list(votes.get(f["id"], {}).values()), k),
                 frozenset(votes.get(f["id"], {})))
            for f in rows(ws, Face)
            if f["asset_id"] in assets and f["run_id"] == current.get(f["asset_id"])
            and f["dominant"] is not None]


def reviews_per_face(ws) -> int:
    """k as stored in the ``setting`` table (1 where unset)."""
    stored = [r["value"] for r in rows(ws, Setting) if r["key"] == "reviews_per_face"]
    return int(stored[0]) if stored else 1


def majority(labels: list[str], k: int) -> str | None:
    """The label more than half of ``labels`` give, once there are ``k`` (else None)."""
    if len(labels) < k:
        return None
    for label in set(labels):
        if 2 * labels.count(label) > len(labels):
            return label
    return None


def label_counts(ws, *, brand: int, reviews: bool = False,
                 where: Where = lambda s: True) -> dict[str, int]:
    """Counted faces per label that also satisfy ``where``."""
    out: dict[str, int] = {}
    for s in counted(ws, brand=brand):
        if where(s):
            out[s.label(reviews)] = out.get(s.label(reviews), 0) + 1
    return out


def counted_faces(ws, *, brand: int, where: Where = lambda s: True) -> int:
    """Counted faces that also satisfy ``where``."""
    return sum(1 for s in counted(ws, brand=brand) if where(s))


def assets_with(ws, *, brand: int, where: Where) -> int:
    """Assets with at least one counted face that satisfies ``where``."""
    return len({s.a["id"] for s in counted(ws, brand=brand) if where(s)})


def assets_with_label(ws, *, brand: int, label: str) -> int:
    """Assets with at least one counted face of ``label`` (model labels)."""
    return assets_with(ws, brand=brand, where=lambda s: s.label() == label)


def assets(ws, *, where: Callable[[Row], bool] = lambda a: True) -> list[Row]:
    """Asset rows that satisfy ``where``, by id."""
    return [a for a in rows(ws, Asset) if where(a)]


def ambassador_of(s: Seen) -> int | None:
    """The face's ambassador as the app documents it: the one recognition matched it to,
    unless a reviewer rejected that match; else the one the post is tagged with."""
    if s.f["ambassador_id"] is not None and s.f["ambassador_confirmed"] is not False:
        return s.f["ambassador_id"]
    return s.a["ambassador_id"]


def review_queue(ws, *, brand: int, limit: int, reviewer: str = "x") -> list[int]:
    """Face ids of ``reviewer``'s review queue: counted faces they have not reviewed with
    fewer than k reviews, the ones flagged uncertain first, then the lowest confidence
    first (unknown last), then by id."""
    k = reviews_per_face(ws)
    todo = [s.f for s in counted(ws, brand=brand)
            if reviewer not in s.reviewers and len(s.reviewers) < k]
    todo.sort(key=lambda f: (not f["uncertain"], f["confidence"] is None,
                             f["confidence"] or 0.0, f["id"]))
    return [f["id"] for f in todo[:limit]]


def scalar(ws, sql: str, **params):
    """One value of a plain lookup (ids, counts of one table)."""
    with ws.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
