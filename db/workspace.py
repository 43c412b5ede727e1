"""A workspace: the store (database + media store) and its configuration, opened once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from brandmood.core.settings import Config, load_config
from db.media_store import LocalMediaStore, MediaStore
from db.migrate import upgrade
from db.session import check_connection, make_engine, session_factory


@dataclass
class Workspace:
    """Engine, session factory and media store of one workspace."""

    config: Config
    engine: Engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def media(self) -> MediaStore:
        return open_media_store(self.config)

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()


def open_media_store(config: Config) -> MediaStore:
    """The media store the settings name: the folder in the home, or an S3 bucket
    (``BRANDMOOD_MEDIA_URL=s3://bucket/prefix`` with the ``AWS_*`` settings).

    Raises:
        db.media_store.MediaStoreError: for a media URL that is not ``s3://bucket/…``.
    """
    if not config.media_url:
        return LocalMediaStore(config.media_dir)
    from db.object_store import ObjectMediaStore

    return ObjectMediaStore(config.media_url, endpoint=config.aws_endpoint_url,
                            region=config.aws_region,
                            access_key_id=config.aws_access_key_id,
                            secret_access_key=config.aws_secret_access_key,
                            scratch=config.home / ".scratch")


def open_workspace(config: Config | None = None, *, migrate: bool = True) -> Workspace:
    """Open (and by default migrate) the workspace the configuration names.

    Raises:
        db.session.DatabaseError: if the database cannot be reached.
    """
    config = config or load_config()
    config.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url)
    check_connection(engine)
    if migrate:
        upgrade(engine)
    return Workspace(config=config, engine=engine)
