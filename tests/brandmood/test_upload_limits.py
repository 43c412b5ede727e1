"""Upload limits: count, total size, and types told by content, not by name."""

from __future__ import annotations

import pytest

from brandmood.core.settings import load_config
from brandmood.services.uploads import UploadLimits, UploadRefused, check_uploads


def _limits(**env: str) -> UploadLimits:
    return UploadLimits.of(load_config({"HOME": "/tmp", **env}))


def test_types_by_content(media) -> None:
    jpeg = media.path("single_face.jpg").read_bytes()
    zipped = b"PK\x03\x04" + b"\0" * 40
    assert check_uploads([("x.png", jpeg), ("clip.zip", zipped)], _limits()) == {}
    bad = [("x.jpg", b"<html><script>alert(1)</script>"), ("y.jpg", b"MZ\x90\0"),
           ("z.jpg", b"")]
    refused = check_uploads([("ok.jpg", jpeg), *bad], _limits())
    assert sorted(refused) == [1, 2, 3]  # the good one is kept
    assert all("by its content" in r for r in refused.values())
    only = _limits(BRANDMOOD_UPLOAD_KINDS="image,video")
    assert "a zip file" in check_uploads([("a.zip", zipped)], only)[0]


def test_count_and_size(media) -> None:
    jpeg = media.path("single_face.jpg").read_bytes()
    with pytest.raises(UploadRefused, match="3 files, at most 2"):
        check_uploads([("a.jpg", jpeg)] * 3, _limits(BRANDMOOD_MAX_UPLOAD_FILES="2"))
    big = jpeg + b"\0" * (1024 * 1024)
    with pytest.raises(UploadRefused, match="at most 1 MB per upload"):
        check_uploads([("a.jpg", big)], _limits(BRANDMOOD_MAX_UPLOAD_MB="1"))
    with pytest.raises(UploadRefused, match="unknown kind"):
        _limits(BRANDMOOD_UPLOAD_KINDS="image,exe")
