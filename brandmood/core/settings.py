"""The settings table: every environment variable brandmood reads, declared once.

:data:`SETTINGS` lists each setting (attribute name, environment variable, kind, default, help
text, secret or not); :func:`load_config` turns the environment into the typed
:class:`Config` by that table, and nothing else in the product reads ``BRANDMOOD_*``
variables. ``brandmood config show`` prints the values in force from the table (secrets
masked) and ``brandmood config docs`` prints the README's configuration table
(:func:`settings_markdown`; tests/test_docs.py checks the README against it).

Reading a value: ``load_config().cache_dir`` (the environment is read on each call, so a test
overrides a value with ``monkeypatch.setenv`` or passes ``load_config({"BRANDMOOD_HOME": ...})``).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "faceapi"
"""The default emotion classifier: face-api's FaceExpressionNet, calibrated (registered in
:mod:`analytics.classifiers.registry`). Chosen by cross-validation grouped by people on both
dev sets (``benchmarks/model_cv.py``, docs/models.md): the best mean accuracy on unseen people
over JAFFE photos and CK+48 crops, against every model and every ensemble with face-api
(weights and crop margin chosen inside the folds)."""

DEFAULT_EMBEDDER = "dlib-resnet-v1"
"""analytics.identity_registry.DEFAULT_EMBEDDER's name."""

NAME = "<NAME>"
"""Stands for the varying part of a patterned variable such as ``BRANDMOOD_ONNX_<NAME>``."""
ONNX_PREFIX = "BRANDMOOD_ONNX_"
"""The fixed part of the ONNX weights variables (``BRANDMOOD_ONNX_<NAME>``)."""


class SettingError(ValueError):
    """An environment variable holds a value its setting cannot take."""


class Kind(enum.Enum):
    """How a setting's text becomes its value."""

    TEXT = "text"
    PATH = "path"
    """``~`` expanded, made absolute."""
    COUNT = "count"
    """A positive whole number."""
    LIST = "list"
    """Comma-separated; blanks dropped."""
    URL = "url"
    """Kept as given; a password in it is masked when shown."""


Default = Callable[[Mapping[str, str], Mapping[str, object]], object]
"""A computed default: ``(environment, values read so far) -> value``."""


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str
    """The :class:`Config` attribute."""
    env: str
    """The environment variable; ending in ``<NAME>``, a pattern (one value per name)."""
    kind: Kind
    default: object | Default
    """The value when the variable is unset or blank (None: no value)."""
    default_doc: str
    """The default as the documentation words it."""
    help: str
    secret: bool = False
    """Never shown: ``config show`` and the Settings page print ``***`` where it is set."""

    @property
    def patterned(self) -> bool:
        return self.env.endswith(NAME)

    def variable(self, name: str) -> str:
        """The variable of one name of a patterned setting (``ferplus-8`` → ``..._FERPLUS_8``)."""
        return self.env.replace(NAME, name_part(name))


def name_part(name: str) -> str:
    """How a name appears in a patterned variable: upper case, ``-`` → ``_``."""
    return name.upper().replace("-", "_")


def _default_cache(env: Mapping[str, str], _: Mapping[str, object]) -> Path:
    """``$XDG_CACHE_HOME/brandmood`` (an absolute XDG_CACHE_HOME only), else
    ``~/.cache/brandmood``."""
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "brandmood"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".cache" / "brandmood"


def _default_database(_: Mapping[str, str], values: Mapping[str, object]) -> str:
    """The SQLite file in the workspace (``home`` is read first: it comes first in the table)."""
    return f"sqlite:///{Path(str(values['home'])) / 'brandmood.db'}"


SETTINGS: tuple[Setting, ...] = (
    Setting("home", "BRANDMOOD_HOME", Kind.PATH, Path("brandmood-data"), "`./brandmood-data`",
            "workspace: SQLite file and media store"),
    Setting("database_url", "BRANDMOOD_DATABASE_URL", Kind.URL, _default_database,
            "SQLite in the home",
            "any SQLAlchemy URL, e.g. `postgresql://user@host/db` (psycopg 3); "
            "a password in it is never shown"),
    Setting("cache_dir", "BRANDMOOD_CACHE", Kind.PATH, _default_cache,
            "`$XDG_CACHE_HOME/brandmood`, else `~/.cache/brandmood`",
            "fetched wheels and model weights (`make`, the CLI, the app and the benchmarks "
            "all use it)"),
    Setting("model", "BRANDMOOD_MODEL", Kind.TEXT, DEFAULT_MODEL, f"`{DEFAULT_MODEL}`",
            "default emotion classifier (see docs/models.md)"),
    Setting("embedder", "BRANDMOOD_EMBEDDER", Kind.TEXT, DEFAULT_EMBEDDER,
            f"`{DEFAULT_EMBEDDER}`",
            "default face embedder for ambassador recognition: `dlib-resnet-v1` or "
            "`facenet-vggface2` (needs an explicit threshold; docs/identity_and_adaptation.md)"),
    Setting("threads", "BRANDMOOD_THREADS", Kind.COUNT, None, "cores − 1 (at least 1)",
            "PyTorch threads for detection and classification"),
    Setting("allow_hosts", "BRANDMOOD_ALLOW_HOSTS", Kind.LIST, (), "none",
            "hosts, IPs or CIDR networks that downloads may reach although private "
            "(comma-separated, e.g. an intranet CDN)"),
    Setting("instagram_token", "BRANDMOOD_INSTAGRAM_TOKEN", Kind.TEXT, None, "none",
            "Instagram Graph API access token, never logged or stored", secret=True),
    Setting("facebook_token", "BRANDMOOD_FACEBOOK_TOKEN", Kind.TEXT, None, "none",
            "Facebook Page access token, never logged or stored", secret=True),
    Setting("youtube_key", "BRANDMOOD_YOUTUBE_KEY", Kind.TEXT, None, "none",
            "YouTube Data API v3 key, never logged or stored", secret=True),
    Setting("graph_base", "BRANDMOOD_GRAPH_BASE", Kind.TEXT, "https://graph.facebook.com/v21.0",
            "`https://graph.facebook.com/v21.0`", "Graph API base URL"),
    Setting("youtube_base", "BRANDMOOD_YOUTUBE_BASE", Kind.TEXT,
            "https://www.googleapis.com/youtube/v3", "`https://www.googleapis.com/youtube/v3`",
            "YouTube Data API base URL"),
    Setting("facenet_weights", "BRANDMOOD_FACENET_WEIGHTS", Kind.PATH, None,
            "cache, else download",
            "path of facenet's `20180402-114759-vggface2.pt` for the optional 512-d face "
            "embedder (docs/identity_and_adaptation.md)"),
    Setting("onnx_weights", f"{ONNX_PREFIX}{NAME}", Kind.PATH, None, "cache",
            "path of an ONNX emotion model's weights, `<NAME>` its name upper-cased with `_` "
            "for `-` (e.g. `BRANDMOOD_ONNX_HSEMOTION_ENET_B0_8`, `BRANDMOOD_ONNX_FERPLUS_8`)"),
)
BY_ENV: dict[str, Setting] = {s.env: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    """The settings in force, typed; one attribute per row of :data:`SETTINGS`."""

    home: Path
    database_url: str = field(repr=False)
    cache_dir: Path
    model: str
    embedder: str
    threads: int | None
    """None: every core but one (analytics.detection.configure_torch_threads)."""
    allow_hosts: tuple[str, ...]
    instagram_token: str | None = field(repr=False)
    facebook_token: str | None = field(repr=False)
    youtube_key: str | None = field(repr=False)
    graph_base: str
    youtube_base: str
    facenet_weights: Path | None
    onnx_weights: Mapping[str, Path]
    """Per ``<NAME>`` of ``BRANDMOOD_ONNX_<NAME>``, as the variable spells it."""

    @property
    def media_dir(self) -> Path:
        """Content-addressed media store inside the workspace."""
        return self.home / "media"

    def onnx_weights_for(self, model: str) -> Path | None:
        """The ``BRANDMOOD_ONNX_<NAME>`` path given for the ONNX model ``model``, if any."""
        return self.onnx_weights.get(name_part(model))

    def by_env(self, variable: str) -> object:
        """The value of the setting read from ``variable`` (e.g. a token's variable name).

        Raises:
            KeyError: no setting reads that variable.
        """
        return getattr(self, BY_ENV[variable].name)

    def as_dict(self, *, hide_secrets: bool = True) -> dict[str, str]:
        """Printable form, one entry per setting plus ``media_dir`` (secrets masked)."""
        out = {s.name: _shown(s, getattr(self, s.name), hide_secrets) for s in SETTINGS}
        out["media_dir"] = str(self.media_dir)
        return out


def mask_url(url: str) -> str:
    """Hide a password in a database URL."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _shown(setting: Setting, value: object, hide_secrets: bool) -> str:
    if value is None:
        return ""
    if setting.secret and hide_secrets:
        return "***"
    if setting.kind is Kind.URL and hide_secrets:
        return mask_url(str(value))
    if isinstance(value, Mapping):
        return ", ".join(f"{setting.env.replace(NAME, k)}={v}" for k, v in sorted(value.items()))
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def _parse(setting: Setting, variable: str, text: str) -> object:
    text = text.strip()
    if setting.kind is Kind.PATH:
        return Path(text).expanduser().absolute()
    if setting.kind is Kind.COUNT:
        if not text.isdigit() or int(text) < 1:
            raise SettingError(f"{variable}={text!r}: must be a positive whole number")
        return int(text)
    if setting.kind is Kind.LIST:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return text


def _read(setting: Setting, env: Mapping[str, str], values: Mapping[str, object]) -> object:
    if setting.patterned:
        prefix = setting.env.removesuffix(NAME)
        return {k.removeprefix(prefix): _parse(setting, k, env[k]) for k in _given(setting, env)}
    if _given(setting, env):
        return _parse(setting, setting.env, env[setting.env])
    default = setting.default
    if callable(default):
        return default(env, values)
    if isinstance(default, Path):
        return default.expanduser().absolute()
    return default


def _given(setting: Setting, env: Mapping[str, str]) -> list[str]:
    """The variables of ``setting`` that ``env`` sets to something not blank."""
    if setting.patterned:
        prefix = setting.env.removesuffix(NAME)
        return sorted(k for k, v in env.items()
                      if k.startswith(prefix) and len(k) > len(prefix) and v.strip())
    return [setting.env] if env.get(setting.env, "").strip() else []


def settings_given(env: Mapping[str, str] | None = None) -> set[str]:
    """Names of the settings that ``env`` (default: ``os.environ``) sets; the rest are
    defaults."""
    env = os.environ if env is None else env
    return {s.name for s in SETTINGS if _given(s, env)}


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Read every setting of :data:`SETTINGS` from ``env`` (default: ``os.environ``).

    A blank variable counts as unset.

    Raises:
        SettingError: a variable holds a value its setting cannot take (names the variable).
    """
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    for setting in SETTINGS:
        values[setting.name] = _read(setting, env, values)
    return Config(**values)


def settings_markdown() -> str:
    """The configuration table of the README, from :data:`SETTINGS`."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        meaning = s.help + ("; secret: shown as `***`" if s.secret else "")
        rows.append(f"| `{s.env}` | {s.default_doc} | {meaning} |")
    return "\n".join(rows) + "\n"
