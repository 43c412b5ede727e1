"""Brands, campaigns, channels, ambassadors and assets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope
from db.models import (
    Ambassador,
    Asset,
    Brand,
    Campaign,
    Channel,
    Platform,
)
from db.queries.rollups import rollups_maintained
from db.queries.selection import in_scope


class NotFoundError(LookupError):
    """A named thing does not exist; the message names it."""


def get_or_create_brand(session: Session, *, name: str) -> Brand:
    """The brand called ``name``, created if missing.

    Raises:
        ValueError: for an empty name.
    """
    name = name.strip()
    if not name:
        raise ValueError("brand name must not be empty")
    brand = session.scalar(select(Brand).where(Brand.name == name))
    if brand is None:
        brand = Brand(name=name)
        session.add(brand)
        session.flush()
    return brand


def get_brand(session: Session, *, name: str) -> Brand:
    """The brand called ``name``.

    Raises:
        NotFoundError: if there is none (the message lists the brands there are).
    """
    brand = session.scalar(select(Brand).where(Brand.name == name))
    if brand is None:
        known = ", ".join(list_brand_names(session=session, scope=BrandScope.ALL)) or "none yet"
        raise NotFoundError(f"unknown brand {name!r} (brands: {known})")
    return brand


def list_brand_names(*, session: Session, scope: BrandScope) -> list[str]:
    """Names of the brands in ``scope``, sorted."""
    return list(session.scalars(select(Brand.name).where(in_scope(Brand.id, scope))
                                .order_by(Brand.name)))


def list_brands(*, session: Session, scope: BrandScope) -> Sequence[Brand]:
    """The brands in ``scope``, by name."""
    return session.scalars(select(Brand).where(in_scope(Brand.id, scope))
                           .order_by(Brand.name)).all()


def get_or_create_campaign(session: Session, *, brand: Brand, name: str,
                           starts_on: date | None = None, ends_on: date | None = None,
                           objective: str | None = None) -> Campaign:
    """The brand's campaign called ``name``, created with the given fields if missing."""
    found = session.scalar(select(Campaign).where(Campaign.brand_id == brand.id,
                                                  Campaign.name == name))
    if found is None:
        found = Campaign(brand_id=brand.id, name=name, starts_on=starts_on, ends_on=ends_on,
                         objective=objective)
        session.add(found)
        session.flush()
    return found


def get_or_create_channel(session: Session, *, brand: Brand, platform: Platform, handle: str,
                          url: str | None = None) -> Channel:
    """The brand's channel on ``platform`` with ``handle``, created if missing."""
    found = session.scalar(select(Channel).where(
        Channel.brand_id == brand.id, Channel.platform == platform, Channel.handle == handle))
    if found is None:
        found = Channel(brand_id=brand.id, platform=platform, handle=handle, url=url)
        session.add(found)
        session.flush()
    return found


def get_or_create_ambassador(session: Session, *, brand: Brand, name: str,
                             handles: list[str] | None = None) -> Ambassador:
    """The brand's ambassador called ``name``, created if missing."""
    found = session.scalar(select(Ambassador).where(Ambassador.brand_id == brand.id,
                                                    Ambassador.name == name))
    if found is None:
        found = Ambassador(brand_id=brand.id, name=name, handles=list(handles or []))
        session.add(found)
        session.flush()
    return found


def find_ambassador_by_handle(*, session: Session, brand: Brand,
                              handle: str) -> Ambassador | None:
    """The ambassador whose handles include ``handle`` (case-insensitive, ``@`` optional)."""
    key = handle.strip().lstrip("@").lower()
    for amb in session.scalars(select(Ambassador).where(Ambassador.brand_id == brand.id)):
        if key == amb.name.lower() or key in {h.lstrip("@").lower() for h in amb.handles}:
            return amb
    return None


def is_media_referenced(*, session: Session, relpath: str) -> bool:
    """True while any asset still points at a media file."""
    return bool(session.scalar(select(func.count(Asset.id)).where(Asset.media_path == relpath)))


def delete_asset(*, session: Session, asset: Asset, store) -> bool:
    """Delete an asset (its frames, faces and posts cascade) and its file once unreferenced.

    Returns:
        True if the media file was removed too.
    """
    relpath = asset.media_path
    with rollups_maintained(session=session, asset_ids=[asset.id]):
        session.delete(asset)
        session.flush()
    return store.delete_if_unreferenced(
        relpath, is_referenced=lambda p: is_media_referenced(session=session, relpath=p))


def workspace_is_empty(*, session: Session) -> bool:
    """True where no brand exists yet (the demo loads only then)."""
    return session.scalar(select(func.count(Brand.id))) == 0
