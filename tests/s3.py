"""The S3 test server (moto on 127.0.0.1) shared with the scale benchmark."""

from benchmarks.s3server import (  # noqa: F401
    ACCESS_KEY,
    SECRET_KEY,
    bucket_env,
    bucket_keys,
    make_bucket,
    start_s3_server,
)
