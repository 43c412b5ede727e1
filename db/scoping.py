"""A safety net under the brand scope: sessions that carry a scope see no other brand's rows.

The gate itself is the query layer (every read of brand-owned rows takes a
:class:`~brandmood.core.access.BrandScope`, e.g. through
:class:`~db.queries.selection.DashboardFilters`). This net catches an ORM read that forgot
it: a session made by :func:`restrict` adds ``brand_id IN (scope)`` to every ORM
``SELECT`` of the tables that carry a brand id (brands, campaigns, channels, ambassadors,
assets, ingest runs, memberships), ``session.get`` included. Rows reached only through
those (faces, frames, reviews) and Core statements on ``Table`` objects are left to the
gate. Sessions without a scope (jobs, the command line) are unchanged.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from brandmood.core.access import BrandScope
from db.models import Ambassador, Asset, Brand, Campaign, Channel, IngestRun, Membership
from db.queries.selection import in_scope

SCOPE_KEY = "brandmood.brand_scope"
BRAND_OWNED = (Campaign, Channel, Ambassador, Asset, IngestRun, Membership)
"""ORM classes with a ``brand_id`` column (and :class:`Brand` itself, by ``id``)."""


def restrict(session: Session, scope: BrandScope) -> Session:
    """Limit every later ORM read of ``session`` to ``scope``; returns the session."""
    session.info[SCOPE_KEY] = scope
    return session


def session_scope(session: Session) -> BrandScope:
    """The scope :func:`restrict` gave ``session`` (:attr:`BrandScope.ALL`: none)."""
    return session.info.get(SCOPE_KEY, BrandScope.ALL)


@event.listens_for(Session, "do_orm_execute")
def _limit_to_scope(state: ORMExecuteState) -> None:
    scope = session_scope(state.session)
    if scope.is_all or not state.is_select:
        return
    options = [with_loader_criteria(Brand, in_scope(Brand.id, scope), include_aliases=True)]
    options += [with_loader_criteria(cls, in_scope(cls.brand_id, scope), include_aliases=True)
                for cls in BRAND_OWNED]
    state.statement = state.statement.options(*options)
