"""Upload limits: how many files, how large, and what they are, told by their content.

The dashboard checks every upload here before it stores anything (Streamlit's own
``server.maxUploadSize`` stops larger requests earlier; ``brandmood serve`` sets it from
the same setting). A file's type is what its first bytes say (:func:`ingest.media.sniff`),
never its name: a renamed script is refused, a JPEG named ``.png`` is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from brandmood.core.settings import Config
from ingest.media import sniff

KINDS = {"image": ("image", "heif"), "video": ("video",), "zip": ("zip",)}
"""Each allowed-kinds setting value → the kinds :func:`ingest.media.sniff` tells."""
MB = 1024 * 1024


class UploadRefused(ValueError):
    """An upload breaks a limit; the message names the file and the limit."""


@dataclass(frozen=True)
class UploadLimits:
    """The limits an upload is checked against (from the settings)."""

    max_bytes: int
    max_files: int
    kinds: frozenset[str]

    @classmethod
    def of(cls, config: Config) -> UploadLimits:
        """The limits from ``BRANDMOOD_MAX_UPLOAD_MB``, ``_FILES`` and ``_KINDS``.

        Raises:
            UploadRefused: an upload kind the setting names is unknown.
        """
        unknown = sorted(set(config.upload_kinds) - set(KINDS))
        if unknown:
            raise UploadRefused(f"BRANDMOOD_UPLOAD_KINDS: unknown kind {unknown}; "
                                f"use {', '.join(KINDS)}")
        sniffed = frozenset(k for name in config.upload_kinds for k in KINDS[name])
        return cls(config.max_upload_mb * MB, config.max_upload_files, sniffed)

    def describe(self) -> str:
        names = sorted(n for n, ks in KINDS.items() if set(ks) <= self.kinds)
        return (f"at most {self.max_files} files of at most {self.max_bytes // MB} MB, "
                f"{' / '.join(names)}")


def check_uploads(files: Sequence[tuple[str, bytes]], limits: UploadLimits) -> dict[int, str]:
    """Refuse the whole upload where it has too many files or too many bytes; return the
    files whose content is not an allowed type (those are refused alone, the others kept).

    Args:
        files: ``(name the user gave, content)`` of each file.

    Returns:
        Index of each refused file → the reason, in one line.

    Raises:
        UploadRefused: too many files, or too large in all.
    """
    if len(files) > limits.max_files:
        raise UploadRefused(f"Upload refused: {len(files)} files, at most "
                            f"{limits.max_files} per upload (BRANDMOOD_MAX_UPLOAD_FILES).")
    total = sum(len(data) for _, data in files)
    if total > limits.max_bytes:
        raise UploadRefused(f"Upload refused: {total / MB:.1f} MB in all, at most "
                            f"{limits.max_bytes // MB} MB per upload (BRANDMOOD_MAX_UPLOAD_MB).")
    refused = {}
    for i, (_, data) in enumerate(files):
        found = sniff(data[:64])
        if found is None or found[0] not in limits.kinds:
            what = "an unknown type" if found is None else f"a {found[0]} file"
            refused[i] = (f"{what} by its content, whatever its name; allowed: "
                          f"{limits.describe()} (BRANDMOOD_UPLOAD_KINDS)")
    return refused
