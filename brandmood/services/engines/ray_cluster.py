"""Connecting to a Ray cluster, or starting a private one that only this machine can reach.

A private Ray (no address given) is started by :func:`start_local_ray` with:

- every listener on 127.0.0.1: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` set before Ray is
  imported (without it Ray 2.60 binds all interfaces even with ``_node_ip_address``);
- token authentication: ``RAY_AUTH_MODE=token`` and a random ``RAY_AUTH_TOKEN`` per start
  (Ray 2.60 checks the token on every gRPC connection; the token stays in this process's
  environment and its children's, never on disk);
- no dashboard (``include_dashboard=False``) and no usage statistics;
- a bounded object store (:data:`OBJECT_STORE_BYTES`).

With an address (``auto``, ``host:port`` or ``ray://host:10001``) the cluster's own
security applies: start it with ``RAY_AUTH_MODE=token`` and give every node and driver
the token (``RAY_AUTH_TOKEN``, or ``~/.ray/auth_token`` from ``ray get-auth-token
--generate``); see docs/scaling.md.
"""

from __future__ import annotations

import logging
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from brandmood.core.runtime import configure_local_ray
from brandmood.services.engines.base import EngineError

log = logging.getLogger(__name__)

OBJECT_STORE_BYTES = 512 * 2**20
"""Object store of a private Ray: results and batches in flight, not media (read by the
actors from the media store)."""


@dataclass
class RayConnection:
    """This process's connection to Ray.

    Attributes:
        address: the cluster's GCS address.
        owned: this process made the connection (:meth:`close` ends it; a private cluster
            stops with it).
    """

    address: str
    owned: bool

    def close(self) -> None:
        """Disconnect if this process connected (a private cluster stops with it)."""
        import ray

        if self.owned and ray.is_initialized():
            ray.shutdown()


def _check_loopback_configured() -> None:
    """Ray reads the loopback and token settings when imported: refuse a Ray that was
    imported earlier without them (it would listen on every interface)."""
    if "ray" not in sys.modules:
        return
    from ray._private import ray_constants

    if ray_constants.ENABLE_RAY_CLUSTER:
        raise EngineError("Ray was imported before brandmood could restrict it to "
                          "127.0.0.1; start the private Ray before importing ray, or give "
                          "a cluster address (BRANDMOOD_RAY_ADDRESS)")


def start_local_ray(*, num_cpus: int | None = None,
                    object_store_bytes: int = OBJECT_STORE_BYTES,
                    temp_dir: Path | None = None) -> RayConnection:
    """Start a private Ray on 127.0.0.1 (see the module docstring).

    Args:
        num_cpus: CPUs it may use (None: all).
        object_store_bytes: size of its object store.
        temp_dir: its session folder (None: Ray's default, ``/tmp/ray``); keep it short,
            Ray puts Unix sockets there.

    Raises:
        EngineError: if Ray was imported before without the loopback setting, or fails
            to start.
    """
    configure_local_ray(secrets.token_hex(32))
    _check_loopback_configured()
    import ray

    try:
        info = ray.init(num_cpus=num_cpus, include_dashboard=False,
                        _node_ip_address="127.0.0.1", object_store_memory=object_store_bytes,
                        _temp_dir=None if temp_dir is None else str(temp_dir),
                        configure_logging=False, log_to_driver=False)
    except Exception as exc:
        raise EngineError(f"cannot start a local Ray: {exc}") from None
    address = info.address_info["gcs_address"]
    log.info("started a private Ray at %s (loopback, token auth, no dashboard)", address)
    return RayConnection(address, owned=True)


def connect(address: str | None) -> RayConnection:
    """Connect to the cluster at ``address``, or start a private one (None).

    A Ray already initialized in this process (e.g. by a test session) is used as is.

    Raises:
        EngineError: if the cluster cannot be reached (the message says why).
    """
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ctx = ray.get_runtime_context()
            return RayConnection(str(ctx.gcs_address), owned=False)
    if not address:
        return start_local_ray()
    import ray

    try:
        ray.init(address=address, configure_logging=False, log_to_driver=False)
    except Exception as exc:
        text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise EngineError(f"cannot connect to the Ray cluster at {address}: {text}") from None
    return RayConnection(str(ray.get_runtime_context().gcs_address), owned=True)
