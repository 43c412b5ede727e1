"""What ``brandmood serve`` decides before Streamlit starts: whether it may listen where it
was asked to, and Streamlit's sign-in configuration, written from the settings.

Streamlit reads OpenID Connect settings only from an ``[auth]`` section of a secrets file;
serve writes that file from the ``BRANDMOOD_OIDC_*`` settings into the workspace
(``<home>/.serve/secrets.toml``, readable by its owner only), points Streamlit at it
alone, and leaves the secrets out of the server's environment, command line and output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from brandmood.core.access import is_loopback
from brandmood.core.settings import Config, SignIn

SECRETS_DIR = ".serve"
INSECURE_FLAG = "--insecure-no-sign-in-on-trusted-network"
SECRET_VARIABLES = ("BRANDMOOD_OIDC_CLIENT_SECRET", "BRANDMOOD_COOKIE_SECRET")
"""Read from the secrets file by the server, so left out of its environment."""


class ServeRefused(ValueError):
    """Serving as asked would expose the workspace; the message says what to change."""


def check_address(address: str, sign_in: SignIn | None, *, insecure: bool) -> None:
    """Refuse a network address without sign-in (unless ``insecure``), and sign-in off
    loopback without a public URL to send the browser back to.

    Raises:
        ServeRefused: with the reason and the fix.
    """
    if is_loopback(address):
        return
    if sign_in is None and not insecure:
        raise ServeRefused(
            f"refusing to serve on {address} without sign-in: anyone who reaches this port "
            "would see, export and change every brand. Configure sign-in "
            "(BRANDMOOD_OIDC_METADATA_URL, BRANDMOOD_OIDC_CLIENT_ID, "
            "BRANDMOOD_OIDC_CLIENT_SECRET, BRANDMOOD_COOKIE_SECRET, BRANDMOOD_PUBLIC_URL; "
            f"README: Sign-in), serve on 127.0.0.1, or pass {INSECURE_FLAG} on a network "
            "you trust.")
    if sign_in is not None and not sign_in.public_url:
        raise ServeRefused(f"serving on {address} with sign-in needs BRANDMOOD_PUBLIC_URL, the "
                           "URL users reach (the identity provider redirects to "
                           "<public url>/oauth2callback)")


def hardening_options(config: Config) -> tuple[str, ...]:
    """Streamlit server options ``brandmood serve`` always passes: XSRF protection on (with
    CORS checks on, which it needs) and the upload size limit from the settings
    (``BRANDMOOD_MAX_UPLOAD_MB``; the app checks it again, with the count and the types)."""
    return ("--server.enableXsrfProtection", "true", "--server.enableCORS", "true",
            "--server.maxUploadSize", str(config.max_upload_mb))


def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value)


def streamlit_secrets(sign_in: SignIn, *, port: int) -> str:
    """The ``[auth]`` section Streamlit's ``st.login`` reads (TOML)."""
    lines = ["# written by `brandmood serve` from the BRANDMOOD_OIDC_* settings; do not edit",
             "[auth]",
             f"redirect_uri = {_toml(sign_in.redirect_uri(port))}",
             f"cookie_secret = {_toml(sign_in.cookie_secret)}",
             f"client_id = {_toml(sign_in.client_id)}",
             f"client_secret = {_toml(sign_in.client_secret)}",
             f"server_metadata_url = {_toml(sign_in.metadata_url)}",
             "",
             "[auth.client_kwargs]",
             'scope = "openid email profile"']
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (folder 0700, file 0600),
    replacing it whole; never through a symbolic link."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def prepare(config: Config, *, address: str, port: int, insecure: bool) -> tuple[Path, dict]:
    """Check the address, write (or remove) Streamlit's secrets file, and return it with
    the environment variables to change for the server.

    Returns:
        ``(secrets file, environment changes)``; a change to None removes the variable.
        Without sign-in the file does not exist: Streamlit then reads no secrets at all
        (not ``~/.streamlit/secrets.toml`` either).

    Raises:
        ServeRefused: see :func:`check_address`.
        SettingError: sign-in half configured, or its values invalid.
    """
    sign_in = config.sign_in()
    check_address(address, sign_in, insecure=insecure)
    secrets = config.home / SECRETS_DIR / "secrets.toml"
    env: dict[str, str | None] = dict.fromkeys(SECRET_VARIABLES)
    if insecure and sign_in is None:
        env["BRANDMOOD_INSECURE_NO_SIGN_IN_ON_TRUSTED_NETWORK"] = "1"
    if sign_in is None:
        secrets.unlink(missing_ok=True)
    else:
        write_private(secrets, streamlit_secrets(sign_in, port=port))
    return secrets, env
