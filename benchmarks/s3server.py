"""A real S3 server for the scale benchmark and the tests: moto on 127.0.0.1, fresh buckets."""

from __future__ import annotations

import logging
import urllib.request
import uuid

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-never-shown"


def start_s3_server():
    """Start moto's S3 server on a free loopback port; returns ``(server, endpoint URL)``."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def make_bucket(endpoint: str, name: str | None = None) -> str:
    """Create a bucket (moto takes unsigned requests); returns its name."""
    name = name or f"media-{uuid.uuid4().hex[:10]}"
    req = urllib.request.Request(f"{endpoint}/{name}", method="PUT")
    with urllib.request.urlopen(req, timeout=30) as resp:
        if resp.status != 200:
            raise RuntimeError(f"cannot create bucket {name}: HTTP {resp.status}")
    return name


def bucket_env(endpoint: str, prefix: str = "brandmood") -> dict[str, str]:
    """The settings of a new bucket: media URL, endpoint, region and credentials."""
    bucket = make_bucket(endpoint)
    return {"BRANDMOOD_MEDIA_URL": f"s3://{bucket}/{prefix}", "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def bucket_keys(endpoint: str, media_url: str) -> list[str]:
    """Every key under the media URL's prefix (relative to it), listed independently of
    brandmood's store (obstore's plain listing)."""
    import obstore
    from obstore.store import S3Store

    bucket, _, prefix = media_url.removeprefix("s3://").partition("/")
    store = S3Store(bucket, prefix=prefix or None,
                    config={"endpoint": endpoint, "allow_http": "true", "region": "us-east-1",
                            "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY})
    return sorted(m["path"] for batch in obstore.list(store) for m in batch)
