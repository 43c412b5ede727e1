"""A plug-in ingest source in one file (the example of docs/architecture.md): a plain-text
list of media URLs or paths, one per line, ``#`` starting a comment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ingest.base import Candidate, PostMetadata, SourceContext, SourceRequest


@dataclass
class UrlListSource:
    """Every line of a text file: an http(s) URL or a local path."""

    listing: Path
    meta: PostMetadata = field(default_factory=PostMetadata)
    kind: ClassVar[str] = "url-list"

    @classmethod
    def from_request(cls, request: SourceRequest) -> UrlListSource:
        return cls(Path(request.one_target("list file")), meta=request.meta)

    @property
    def label(self) -> str:
        return str(self.listing)

    def candidates(self, ctx: SourceContext) -> Iterator[Candidate]:
        for line in self.listing.read_text(encoding="utf-8").splitlines():
            item = line.split("#", 1)[0].strip()
            if item.startswith(("http://", "https://")):
                yield Candidate(source=item, url=item, meta=self.meta)
            elif item:
                yield Candidate(source=item, path=Path(item), meta=self.meta)
