"""Which face embedder: names, dimensions, calibrated thresholds, and loading by name.

Embeddings of different models live in different spaces (dlib's are 128-d, facenet's 512-d,
and their distances mean different things), so everything stored (face embeddings,
ambassador references) is keyed by the embedder's name and a gallery is only ever compared
with faces embedded by the same model.

Only dlib's threshold has been calibrated (``benchmarks/identity.py``; numbers in
``docs/identity_and_adaptation.md``). facenet has none until it is calibrated the same way
with its real weights: matching with it needs an explicit threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from analytics.identity import DEFAULT_THRESHOLD, EMBEDDING_DIM, Embedder, IdentityError


class EmbedderName(StrEnum):
    """The face embedders there are; the value is the model name stored with each vector."""

    DLIB = "dlib-resnet-v1"
    FACENET = "facenet-vggface2"


DEFAULT_EMBEDDER = EmbedderName.DLIB


@dataclass(frozen=True)
class EmbedderSpec:
    """What is known of an embedder without loading it.

    Attributes:
        name: its name (the ``model`` key of stored vectors).
        dim: length of its embeddings.
        threshold: calibrated distance threshold, or None where none has been calibrated.
    """

    name: EmbedderName
    dim: int
    threshold: float | None


SPECS: dict[EmbedderName, EmbedderSpec] = {
    EmbedderName.DLIB: EmbedderSpec(EmbedderName.DLIB, EMBEDDING_DIM, DEFAULT_THRESHOLD),
    EmbedderName.FACENET: EmbedderSpec(EmbedderName.FACENET, 512, None),
}


def embedder_name(name: str | EmbedderName | None) -> EmbedderName:
    """The embedder called ``name`` (None: :data:`DEFAULT_EMBEDDER`).

    Raises:
        ValueError: for a name that is no embedder (the message lists the ones there are).
    """
    if name is None:
        return DEFAULT_EMBEDDER
    try:
        return EmbedderName(str(name).strip())
    except ValueError:
        known = ", ".join(e.value for e in EmbedderName)
        raise ValueError(f"unknown face embedder {name!r} (choose from: {known})") from None


def embedder_spec(name: str | EmbedderName | None) -> EmbedderSpec:
    """The :class:`EmbedderSpec` of an embedder (None: the default one)."""
    return SPECS[embedder_name(name)]


def default_threshold(name: str | EmbedderName | None) -> float | None:
    """The embedder's calibrated distance threshold, or None where it is uncalibrated."""
    return embedder_spec(name).threshold


def resolve_threshold(name: str | EmbedderName | None, threshold: float | None) -> float:
    """The threshold to match with: the explicit one, else the embedder's calibrated one.

    Raises:
        IdentityError: the embedder has no calibrated threshold and none was given.
        ValueError: for a threshold that is not positive.
    """
    spec = embedder_spec(name)
    if threshold is None:
        if spec.threshold is None:
            raise IdentityError(
                f"{spec.name} has no calibrated distance threshold: pass one explicitly "
                "(--threshold), calibrated on your data as benchmarks/identity.py does")
        threshold = spec.threshold
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    return float(threshold)


def get_embedder(name: str | EmbedderName | None = None) -> Embedder:
    """The embedder called ``name``, loaded once per process (None: the default one).

    facenet's weights are found as :func:`analytics.identity_facenet.facenet_weights_path`
    says (``BRANDMOOD_FACENET_WEIGHTS``, the cache, a download) when first asked for.

    Raises:
        ValueError: for an unknown name.
        brandmood.core.fetch.AssetError: the embedder's weights cannot be found or loaded.
    """
    return _load(embedder_name(name).value)


def clear_embedders() -> None:
    """Forget the loaded embedders (e.g. after ``BRANDMOOD_FACENET_WEIGHTS`` changed)."""
    _load.cache_clear()


@cache
def _load(name: str) -> Embedder:
    if name == EmbedderName.DLIB:
        from analytics.identity import default_embedder

        return default_embedder()
    from analytics.identity_facenet import FacenetEmbedder

    return FacenetEmbedder()
