"""A second brand whose every trace is recognisable, for the tests that brand A's users
never see brand B: distinctive names, ids from 90001 up, its own media file.

:func:`add_secret_brand` turns the filled workspace's second brand into "Zenith
Confidential" with a campaign, channel, ambassador, two analyzed images (one its own
file, one the same file as an Acme asset), faces, a review and a failed ingest run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import delete

from brandmood.core.types import Emotion
from db.models import (
    Ambassador,
    Asset,
    AssetAnalysis,
    AssetKind,
    AssetStatus,
    Brand,
    Campaign,
    Channel,
    Frame,
    IngestItem,
    IngestRun,
    Outcome,
    Platform,
    Review,
    RunStatus,
)
from db.queries.analysis import refresh_face_counts
from db.workspace import Workspace
from tests.pages.fill import _face

NAME = "Zenith Confidential"
WORDS = (NAME, "Zenith", "Zephyr Secret Campaign", "zephyr_secret", "Zora Secret",
         "zenith-reviewer", "zenith-secret", "zenith.example")
"""Strings that only brand B's rows hold (brand, campaign, channel, ambassador, reviewer,
file names, permalinks)."""
IDS = re.compile(r"(?<!\d)90[0-9]{3}(?!\d)")
"""Every id of brand B's rows (assets, faces, frames, groups, runs) is 90001–90999."""


def leaks(text: str, media_hashes: set[str]) -> list[str]:
    """The traces of brand B in ``text`` (names, ids, its own media file's hash)."""
    found = [w for w in WORDS if w.lower() in text.lower()]
    found += sorted(set(IDS.findall(text)))
    found += [h for h in media_hashes if h in text]
    return found


def add_secret_brand(ws: Workspace, media, ids: dict[str, int]) -> dict[str, object]:
    """Make the filled workspace's second brand :data:`NAME`, with traces everywhere.

    Returns:
        ``brand`` (its id), ``asset`` (its own-media asset), ``shared_asset`` (same file
        as Acme's single_face.jpg), ``campaign``, ``channel``, ``ambassador``, ``faces``
        and ``media`` (the relpath of its own file, which no Acme asset uses).
    """
    with ws.sessions.begin() as s:
        brand = s.get(Brand, ids["other_brand"])
        brand.name = NAME
        s.execute(delete(Asset).where(Asset.id == ids["other_asset"]))
        camp = Campaign(id=90201, brand_id=brand.id, name="Zephyr Secret Campaign")
        chan = Channel(id=90301, brand_id=brand.id, platform=Platform.INSTAGRAM,
                       handle="zephyr_secret", url="https://zenith.example/zephyr_secret")
        amb = Ambassador(id=90401, brand_id=brand.id, name="Zora Secret", handles=["@zora"])
        s.add_all([camp, chan, amb])
        s.flush()
        own, own_faces = _asset(ws, s, media, 90001, "Image_with_alpha.png", Emotion.FEAR,
                                ids["run"], (camp, chan, amb))
        shared, shared_faces = _asset(ws, s, media, 90002, "single_face.jpg", Emotion.SURPRISE,
                                      ids["run"], (camp, chan, amb))
        faces = own_faces + shared_faces
        out = {"asset": own.id, "shared_asset": shared.id, "media": own.media_path}
        s.add(Review(face_id=faces[0], label=Emotion.SAD, reviewer="zenith-reviewer"))
        run = IngestRun(id=90601, brand_id=brand.id, source_kind="files",
                        source="/tmp/zenith-secret", status=RunStatus.DONE)
        s.add(run)
        s.flush()
        s.add(IngestItem(id=90701, run_id=run.id, source="/tmp/zenith-secret/broken.jpg",
                         outcome=Outcome.FAILED, reason="not an image: zenith-secret"))
        s.flush()
        refresh_face_counts(session=s)
        out.update(brand=brand.id, campaign=camp.id, channel=chan.id, ambassador=amb.id,
                   faces=faces)
    return out


def _asset(ws, s, media, asset_id: int, fname: str, label: Emotion, run_id: int,
           groups) -> tuple[Asset, list[int]]:
    """One analyzed image of the secret brand with two faces of ``label``."""
    camp, chan, amb = groups
    stored = ws.media.put_file(media.path(fname))
    a = Asset(id=asset_id, brand_id=camp.brand_id, kind=AssetKind.IMAGE,
              source_uri=f"file:zenith-secret-{asset_id}.png",
              permalink=f"https://zenith.example/p/{asset_id}",
              channel_id=chan.id, campaign_id=camp.id, ambassador_id=amb.id,
              posted_at=datetime(2025, 1, 15, tzinfo=UTC), likes=7, comments=1, shares=0,
              views=70, sha256=stored.sha256, media_path=stored.relpath,
              status=AssetStatus.ANALYZED, caption="Zenith secret launch")
    s.add(a)
    s.flush()
    fr = Frame(id=asset_id + 500, asset_id=a.id, timestamp_ms=0)
    s.add(fr)
    s.add(AssetAnalysis(asset_id=a.id, run_id=run_id, status=AssetStatus.ANALYZED, n_faces=2))
    s.flush()
    faces = []
    for i in range(2):
        face = _face(a, fr, _Run(run_id), i, label.value, 0.9, False)
        face.id = 90100 + 10 * (asset_id - 90000) + i
        face.ambassador_id = amb.id
        s.add(face)
        faces.append(face.id)
    s.flush()
    return a, faces


class _Run:
    """The ``id`` of a run, as :func:`tests.pages.fill._face` reads it."""

    def __init__(self, run_id: int) -> None:
        self.id = run_id
