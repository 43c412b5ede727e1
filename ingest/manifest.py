"""CSV or JSON manifests of media with metadata.

Columns (CSV header or JSON keys): ``url`` or ``path`` (relative to the manifest's
folder, or ``base_dir``), and optionally ``channel`` (``platform:handle``), ``campaign``,
``ambassador`` (a handle), ``posted_at`` (ISO 8601), ``caption``, ``permalink``,
``likes``, ``comments``, ``shares``, ``views``. Unknown columns are kept in the asset's
``extra``. A bad row becomes one failed candidate naming its line (CSV, JSON Lines) or
item number (JSON array).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from ingest.base import (
    Candidate,
    ChannelRef,
    PostMetadata,
    SourceContext,
    SourceError,
    SourceKind,
    SourceRequest,
    parse_count,
    parse_time,
)

KNOWN = ("url", "path", "channel", "campaign", "ambassador", "posted_at", "caption",
         "permalink", "likes", "comments", "shares", "views")
_COUNTS = ("likes", "comments", "shares", "views")


def _text(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def row_to_candidate(row: dict[str, Any], *, where: str, base_dir: Path,
                     defaults: PostMetadata) -> Candidate:
    """Turn one manifest row into a candidate (or a failed one naming ``where``)."""
    label = f"{where}"
    try:
        url, rel = _text(row, "url"), _text(row, "path")
        if (url is None) == (rel is None):
            raise ValueError("needs exactly one of 'url' and 'path'")
        counts = {k: parse_count(row.get(k), k) for k in _COUNTS}
        channel = _text(row, "channel")
        meta = replace(
            defaults,
            posted_at=parse_time(_text(row, "posted_at")) or defaults.posted_at,
            caption=_text(row, "caption") or defaults.caption,
            permalink=_text(row, "permalink") or defaults.permalink,
            channel=ChannelRef.parse(channel) if channel else defaults.channel,
            campaign=_text(row, "campaign") or defaults.campaign,
            ambassador=_text(row, "ambassador") or defaults.ambassador,
            extra={**defaults.extra,
                   **{k: v for k, v in row.items() if k not in KNOWN and k and v not in
                      (None, "")}},
            **{k: (v if v is not None else getattr(defaults, k)) for k, v in counts.items()},
        )
    except ValueError as exc:
        source = _text(row, "url") or _text(row, "path") or label
        return Candidate(source=f"{source} ({label})" if source != label else label,
                         error=f"{label}: {exc}")
    if url is not None:
        return Candidate(source=url, url=url, meta=meta)
    path = Path(rel)
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        return Candidate(source=str(path), error=f"{label}: no such file {rel!r}")
    return Candidate(source=str(path), path=path, meta=meta)


@dataclass
class ManifestSource:
    """Rows of a CSV (``.csv``), JSON array (``.json``) or JSON Lines (``.jsonl``) file."""

    manifest: Path
    meta: PostMetadata = field(default_factory=PostMetadata)
    base_dir: Path | None = None
    kind: ClassVar[str] = SourceKind.MANIFEST

    def __post_init__(self) -> None:
        if not Path(self.manifest).is_file():
            raise FileNotFoundError(f"no such manifest: {self.manifest}")

    @classmethod
    def from_request(cls, request: SourceRequest) -> ManifestSource:
        """The manifest named by the request's one target (relative paths: ``base_dir``)."""
        return cls(Path(request.one_target("manifest")), meta=request.meta,
                   base_dir=request.base_dir)

    @property
    def label(self) -> str:
        return str(self.manifest)

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(where, row) pairs; ``where`` is ``line N`` or ``item N``.

        Raises:
            SourceError: if the file is not a readable manifest at all.
        """
        path = Path(self.manifest)
        suffix = path.suffix.lower()
        try:
            if suffix == ".csv":
                with open(path, newline="", encoding="utf-8-sig") as fh:
                    reader = csv.DictReader(fh)
                    if not reader.fieldnames or not {"url", "path"} & set(reader.fieldnames):
                        raise SourceError(f"{path.name}: the header needs a 'url' or "
                                          "'path' column")
                    for row in reader:
                        yield f"line {reader.line_num}", {
                            (k or "").strip(): v for k, v in row.items() if k is not None}
            elif suffix == ".jsonl":
                with open(path, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, start=1):
                        if line.strip():
                            yield f"line {n}", _object(json.loads(line), f"line {n}")
            elif suffix == ".json":
                data = json.loads(path.read_text(encoding="utf-8"))
                items = data.get("items") if isinstance(data, dict) else data
                if not isinstance(items, list):
                    raise SourceError(f"{path.name}: expected a JSON array of objects "
                                      "(or {\"items\": [...]})")
                for n, item in enumerate(items, start=1):
                    yield f"item {n}", _object(item, f"item {n}")
            else:
                raise SourceError(f"{path.name}: manifest must be .csv, .json or .jsonl")
        except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
            raise SourceError(f"{path.name}: not a readable manifest: {exc}") from None

    def candidates(self, ctx: SourceContext) -> Iterator[Candidate]:
        base = Path(self.base_dir) if self.base_dir else Path(self.manifest).resolve().parent
        for where, row in self.rows():
            if not row:
                yield Candidate(source=where, error=f"{where}: not a JSON object")
                continue
            yield row_to_candidate(row, where=where, base_dir=base, defaults=self.meta)


def _object(value: Any, where: str) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
