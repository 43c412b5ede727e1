"""A workspace: the store (database + media files) and its configuration, opened once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from brandmood.core.settings import Config, load_config
from db.media_store import MediaStore
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
        return MediaStore(self.config.media_dir)

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()


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
