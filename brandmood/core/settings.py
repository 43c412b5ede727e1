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

from brandmood.core.access import is_loopback

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
    FLAG = "flag"
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``."""
    CHOICE = "choice"
    """One of the setting's ``choices`` (lower-cased)."""


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
    choices: tuple[str, ...] = ()
    """The values a :attr:`Kind.CHOICE` setting accepts."""

    @property
    def patterned(self) -> bool:
        return self.env.endswith(NAME)

    def variable(self, name: str) -> str:
        """The variable of one name of a patterned setting (``ferplus-8`` → ``..._FERPLUS_8``)."""
        return self.env.replace(NAME, name_part(name))


@dataclass(frozen=True)
class WorkspaceSetting:
    """A whole-number setting a workspace keeps in its own database (the ``setting`` table;
    the Settings page edits it), declared here once with its default and help."""

    name: str
    """The key it is stored under."""
    default: int
    help: str
    minimum: int
    maximum: int

    def parse(self, text: str | int) -> int:
        """The value of ``text``.

        Raises:
            SettingError: not a whole number within ``[minimum, maximum]``.
        """
        value = str(text).strip()
        if not value.isdigit() or not self.minimum <= int(value) <= self.maximum:
            raise SettingError(f"{self.name}={text!r}: must be a whole number from "
                               f"{self.minimum} to {self.maximum}")
        return int(value)


REVIEWS_PER_FACE = WorkspaceSetting(
    "reviews_per_face", 1,
    "reviews each face needs (k) before its label counts: the consensus is the label a "
    "strict majority of its reviews give, once k reviews exist; faces without one are "
    "disputed (docs/reviews.md)", 1, 9)
WORKSPACE_SETTINGS: tuple[WorkspaceSetting, ...] = (REVIEWS_PER_FACE,)


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
    # sign-in (OpenID Connect; README "Sign-in")
    Setting("oidc_metadata_url", "BRANDMOOD_OIDC_METADATA_URL", Kind.TEXT, None, "none",
            "the identity provider's `.well-known/openid-configuration` URL (https; "
            "http only on loopback); with the client id and secret and a cookie secret, "
            "turns sign-in on"),
    Setting("oidc_client_id", "BRANDMOOD_OIDC_CLIENT_ID", Kind.TEXT, None, "none",
            "the OpenID Connect client id registered for brandmood"),
    Setting("oidc_client_secret", "BRANDMOOD_OIDC_CLIENT_SECRET", Kind.TEXT, None, "none",
            "the client's secret, never logged or shown", secret=True),
    Setting("cookie_secret", "BRANDMOOD_COOKIE_SECRET", Kind.TEXT, None, "none",
            "signs the sign-in cookie: at least 32 random characters", secret=True),
    Setting("cookie_secret_file", "BRANDMOOD_COOKIE_SECRET_FILE", Kind.PATH, None, "none",
            "a file holding the cookie secret (instead of `BRANDMOOD_COOKIE_SECRET`)"),
    Setting("public_url", "BRANDMOOD_PUBLIC_URL", Kind.TEXT, None,
            "`http://localhost:<port>`",
            "the URL users reach brandmood at; the identity provider redirects to "
            "`<public url>/oauth2callback` (required off loopback)"),
    Setting("oidc_groups_claim", "BRANDMOOD_OIDC_GROUPS_CLAIM", Kind.TEXT, "groups",
            "`groups`",
            "the ID-token claim whose values `brand:<brand>:<role>` and `brandmood:owner` "
            "grant roles"),
    Setting("insecure_no_sign_in", "BRANDMOOD_INSECURE_NO_SIGN_IN_ON_TRUSTED_NETWORK",
            Kind.FLAG, False, "off",
            "serve without sign-in on a network address: everyone who reaches the port "
            "is an admin of every brand (`brandmood serve "
            "--insecure-no-sign-in-on-trusted-network`)"),
    # hardening (README "Audit trail and limits")
    Setting("max_upload_mb", "BRANDMOOD_MAX_UPLOAD_MB", Kind.COUNT, 200, "`200`",
            "largest upload in MB, per file and per request (also Streamlit's "
            "`server.maxUploadSize`, set by `brandmood serve`)"),
    Setting("max_upload_files", "BRANDMOOD_MAX_UPLOAD_FILES", Kind.COUNT, 100, "`100`",
            "most files in one upload"),
    Setting("upload_kinds", "BRANDMOOD_UPLOAD_KINDS", Kind.LIST, ("image", "video", "zip"),
            "`image,video,zip`",
            "what an upload may hold, told by the file's first bytes (not its name): "
            "`image` (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC), `video` (MP4, MOV, WebM, MKV, "
            "AVI), `zip`"),
    Setting("max_sign_in_failures", "BRANDMOOD_MAX_SIGN_IN_FAILURES", Kind.COUNT, 5, "`5`",
            "refused sign-ins per user in 15 minutes before further tries are refused"),
    Setting("max_exports_per_hour", "BRANDMOOD_MAX_EXPORTS_PER_HOUR", Kind.COUNT, 30, "`30`",
            "exports (reports, CSV, the audit CSV) per user per hour"),
    # Scaling out (docs/scaling.md): where analysis runs and where media live.
    Setting("engine", "BRANDMOOD_ENGINE", Kind.CHOICE, "local", "`local`",
            "where the analysis runs: `local` (threads of this process) or `ray` (a Ray "
            "cluster, see `BRANDMOOD_RAY_ADDRESS`)", choices=("local", "ray")),
    Setting("ray_address", "BRANDMOOD_RAY_ADDRESS", Kind.TEXT, None,
            "a private Ray on 127.0.0.1",
            "Ray cluster of the `ray` engine: `auto` (the one `ray start` began on this "
            "machine), `host:port` or `ray://host:10001`; unset starts a private Ray on "
            "127.0.0.1 with token authentication and no dashboard"),
    Setting("media_url", "BRANDMOOD_MEDIA_URL", Kind.TEXT, None, "`media/` in the home",
            "media store: unset for the folder in the home, or `s3://bucket/prefix` for "
            "S3-compatible object storage (endpoint and credentials: the `AWS_*` variables "
            "below)"),
    Setting("aws_endpoint_url", "AWS_ENDPOINT_URL", Kind.TEXT, None, "AWS S3",
            "S3-compatible endpoint of `BRANDMOOD_MEDIA_URL`, e.g. `http://127.0.0.1:9000` "
            "(the standard AWS variable)"),
    Setting("aws_region", "AWS_REGION", Kind.TEXT, "us-east-1", "`us-east-1`",
            "region of the bucket (the standard AWS variable)"),
    Setting("aws_access_key_id", "AWS_ACCESS_KEY_ID", Kind.TEXT, None, "none",
            "access key of the bucket (the standard AWS variable)", secret=True),
    Setting("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", Kind.TEXT, None, "none",
            "secret key of the bucket (the standard AWS variable), never logged or stored",
            secret=True),
    # Privacy (issue 14, docs/privacy.md): erasure and retention.
    Setting("erase_matched_faces", "BRANDMOOD_ERASE_MATCHED_FACES", Kind.CHOICE, "remove",
            "`remove`",
            "what erasing an ambassador does with the faces matched to them: `remove` the "
            "face rows (gone from every count) or `detach` them (kept as anonymous faces, "
            "without identity link, embedding or crop)", choices=("remove", "detach")),
    Setting("retention_media_days", "BRANDMOOD_RETENTION_MEDIA_DAYS", Kind.COUNT, None,
            "keep", "`brandmood retention apply` removes media files, thumbnails and face "
            "crops of assets analyzed more than this many days ago (face rows and counts stay)"),
    Setting("retention_all_days", "BRANDMOOD_RETENTION_ALL_DAYS", Kind.COUNT, None, "keep",
            "`brandmood retention apply` erases everything of assets stored more than this "
            "many days ago (rows, faces, files)"),
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
    oidc_metadata_url: str | None
    oidc_client_id: str | None
    oidc_client_secret: str | None = field(repr=False)
    cookie_secret: str | None = field(repr=False)
    cookie_secret_file: Path | None
    public_url: str | None
    oidc_groups_claim: str
    insecure_no_sign_in: bool
    max_upload_mb: int
    max_upload_files: int
    upload_kinds: tuple[str, ...]
    max_sign_in_failures: int
    max_exports_per_hour: int
    engine: str
    """``"local"`` or ``"ray"``."""
    ray_address: str | None
    media_url: str | None
    aws_endpoint_url: str | None
    aws_region: str
    aws_access_key_id: str | None = field(repr=False)
    aws_secret_access_key: str | None = field(repr=False)
    erase_matched_faces: str
    """``"remove"`` or ``"detach"`` (:class:`db.queries.erasure.MatchedFaces`)."""
    retention_media_days: int | None
    """None: media are kept."""
    retention_all_days: int | None
    """None: everything is kept."""

    @property
    def media_dir(self) -> Path:
        """Content-addressed media store inside the workspace."""
        return self.home / "media"

    def onnx_weights_for(self, model: str) -> Path | None:
        """The ``BRANDMOOD_ONNX_<NAME>`` path given for the ONNX model ``model``, if any."""
        return self.onnx_weights.get(name_part(model))

    def sign_in(self) -> SignIn | None:
        """The OpenID Connect sign-in these settings configure (None: none of its
        settings is given).

        Raises:
            SettingError: part of it is given, a secret is too short, a URL is not
                https (http only on loopback), or the secret file cannot be read.
        """
        secret = self.cookie_secret
        if self.cookie_secret_file is not None:
            if secret:
                raise SettingError("set BRANDMOOD_COOKIE_SECRET or BRANDMOOD_COOKIE_SECRET_FILE, "
                                   "not both")
            try:
                secret = self.cookie_secret_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingError(f"BRANDMOOD_COOKIE_SECRET_FILE: cannot read "
                                   f"{self.cookie_secret_file}: {exc.__class__.__name__}") from None
        given = {"BRANDMOOD_OIDC_METADATA_URL": self.oidc_metadata_url,
                 "BRANDMOOD_OIDC_CLIENT_ID": self.oidc_client_id,
                 "BRANDMOOD_OIDC_CLIENT_SECRET": self.oidc_client_secret,
                 "BRANDMOOD_COOKIE_SECRET": secret}
        if not any(given.values()):
            return None
        missing = [k for k, v in given.items() if not v]
        if missing:
            raise SettingError(f"sign-in is half configured: set {', '.join(missing)} too "
                               "(README, Sign-in)")
        if len(secret or "") < MIN_COOKIE_SECRET:
            raise SettingError(f"the cookie secret must be at least {MIN_COOKIE_SECRET} "
                               "characters; make one with: python -c \"import secrets; "
                               "print(secrets.token_urlsafe(32))\"")
        _check_url("BRANDMOOD_OIDC_METADATA_URL", str(self.oidc_metadata_url))
        if self.public_url:
            _check_url("BRANDMOOD_PUBLIC_URL", self.public_url)
        return SignIn(str(self.oidc_metadata_url), str(self.oidc_client_id),
                      str(self.oidc_client_secret), str(secret),
                      self.public_url.rstrip("/") if self.public_url else None,
                      self.oidc_groups_claim)

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


MIN_COOKIE_SECRET = 32


@dataclass(frozen=True)
class SignIn:
    """OpenID Connect sign-in, as :meth:`Config.sign_in` validated it."""

    metadata_url: str
    client_id: str
    client_secret: str = field(repr=False)
    cookie_secret: str = field(repr=False)
    public_url: str | None
    """Without a trailing ``/``; None: ``http://localhost:<port>``."""
    groups_claim: str

    def redirect_uri(self, port: int) -> str:
        """Where the identity provider sends the browser back to."""
        return f"{self.public_url or f'http://localhost:{port}'}/oauth2callback"


def _check_url(variable: str, url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    raise SettingError(f"{variable} must be an https:// URL (http:// only on localhost), "
                       f"got {url!r}")


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
    if setting.kind is Kind.FLAG:
        if text.lower() not in FLAG_WORDS:
            raise SettingError(f"{variable}={text!r}: must be 1 or 0 (true/false, yes/no)")
        return FLAG_WORDS[text.lower()]
    if setting.kind is Kind.CHOICE:
        if text.lower() not in setting.choices:
            raise SettingError(f"{variable}={text!r}: must be one of "
                               f"{', '.join(setting.choices)}")
        return text.lower()
    return text


FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True,
              "0": False, "false": False, "no": False, "off": False}


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
