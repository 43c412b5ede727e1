"""Optional 512-d face embedder: facenet-pytorch's InceptionResnetV1 trained on VGGFace2.

An alternative to dlib's 128-d model (:class:`analytics.identity.FaceEmbedder`, the default)
behind the same interface (:class:`analytics.identity.Embedder`), chosen by name through
:mod:`analytics.identity_registry` (``BRANDMOOD_EMBEDDER``, ``--embedder``); its references
and stored embeddings are kept apart from dlib's. **No distance threshold has been calibrated
for this model**, so matching with it needs an explicit one (docs/identity_and_adaptation.md).

Weights: ``20180402-114759-vggface2.pt``, David Sandberg's facenet model ported to PyTorch,
published on the facenet-pytorch v2.2.9 GitHub release (the URL facenet-pytorch 2.5.3 itself
downloads). The package does not ship them. :class:`FacenetEmbedder` takes the file's path;
the embedder registry (:mod:`analytics.identity_registry`) finds it, in order:

1. the file ``BRANDMOOD_FACENET_WEIGHTS`` names (taken as given; its sha256 is recorded
   on the model info, and the version says ``custom`` unless it is the pinned file);
2. ``$BRANDMOOD_CACHE/models/20180402-114759-vggface2.pt`` (verified against the pin);
3. a download from the release URL into that cache path, verified against the pinned
   sha256 before it is kept (:func:`brandmood.core.fetch.download_file`). Offline this fails
   with one line saying where to put the file.

torch and facenet-pytorch are imported when a model is loaded or run, not with this module
(the embedder registry lists embedders without loading them).

Crops follow facenet: a square around the detector's box (no rotation, as the model was
trained on MTCNN crops), resized to 160×160 RGB, standardized as ``(x - 127.5) / 128``
(facenet-pytorch's ``fixed_image_standardization``); the network's output is L2-normalized.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics.align import crop_faces
from analytics.classifiers.base import ColorMode, InputSpec
from analytics.detection import configure_torch_threads
from analytics.identity import IdentityError
from brandmood.core.fetch import AssetError, sha256_file
from brandmood.core.types import FaceDetections, ModelInfo

EMBEDDING_MODEL = "facenet-vggface2"
EMBEDDING_DIM = 512
WEIGHTS_ENV = "BRANDMOOD_FACENET_WEIGHTS"
"""Names a local weights file instead of the pinned one (read by the embedder registry)."""
INPUT_SPEC = InputSpec(size=160, margin=0.1, color=ColorMode.RGB)
"""160×160 RGB; 10% of the box added on each side (a choice, not calibrated)."""
BATCH = 32
"""Most crops per forward pass (bounds memory)."""


@dataclass(frozen=True)
class PinnedWeights:
    """A weights file published at a URL, pinned by size and sha256."""

    filename: str
    url: str
    sha256: str
    size: int
    version: str


VGGFACE2 = PinnedWeights(
    "20180402-114759-vggface2.pt",
    "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
    "20180402-114759-vggface2.pt",
    "281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b",
    111_898_327,
    "20180402-114759")
"""The sha256 is the one independent public projects pin for this release file (it could not
be downloaded and checked here); a file with any other hash is refused by the download."""


def load_inception_resnet(path: Path):
    """An eval-mode ``InceptionResnetV1`` (embedding head, no classifier) from a state_dict.

    The file's ``logits.*`` entries (the VGGFace2 training classes) are dropped; every
    other weight must be there.

    Raises:
        brandmood.core.fetch.AssetError: a file that is no InceptionResnetV1 state_dict.
    """
    import torch
    from facenet_pytorch import InceptionResnetV1

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AssetError(f"{path.name}: not a PyTorch state_dict "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    if not isinstance(state, dict):
        raise AssetError(f"{path.name}: holds a {type(state).__name__}, not a state_dict")
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    net = InceptionResnetV1(pretrained=None, classify=False)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:2] or [str(exc)]
        raise AssetError(f"{path.name}: not InceptionResnetV1 weights: "
                         f"{first[0].strip()[:300]}") from None
    return net.eval()


def facenet_crops(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Square crops around the boxes, resized to 160×160.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(n, 4)`` ``x1, y1, x2, y2`` in image pixels.

    Returns:
        ``(n, 160, 160, 3)`` uint8 RGB.
    """
    return crop_faces(image, FaceDetections.create(boxes), INPUT_SPEC)


class FacenetEmbedder:
    """facenet's 512-d L2-normalized embedding of faces given by detector boxes.

    Args:
        weights: an InceptionResnetV1 state_dict file (e.g. :data:`VGGFACE2`'s).
        sha256: the hash ``weights`` must have (None: any; it is recorded either way).

    Raises:
        brandmood.core.fetch.AssetError: weights not matching ``sha256``, or not an
            InceptionResnetV1 state_dict.
    """

    def __init__(self, weights: Path, *, sha256: str | None = None) -> None:
        path = Path(weights)
        digest = sha256_file(path)
        if sha256 is not None and digest != sha256:
            raise AssetError(f"{path.name}: sha256 {digest} does not match the expected {sha256}")
        configure_torch_threads()
        self._net = load_inception_resnet(path)
        version = VGGFACE2.version if digest == VGGFACE2.sha256 else "custom"
        self.info = ModelInfo(EMBEDDING_MODEL, version, digest)

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Embed the faces in one image.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            boxes: ``(n, 4)`` ``x1, y1, x2, y2`` face boxes in image pixels.

        Returns:
            ``(n, 512)`` float32 embeddings of unit L2 norm.

        Raises:
            IdentityError: for an image or boxes of the wrong shape.
        """
        import torch

        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise IdentityError(f"image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        b = np.asarray(boxes, np.float32)
        if b.size == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        if b.ndim != 2 or b.shape[1] != 4 or not np.isfinite(b).all():
            raise IdentityError(f"boxes must be (n, 4) finite x1, y1, x2, y2, got {b.shape}")
        crops = facenet_crops(img, b)
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), BATCH):
                x = torch.from_numpy(crops[start:start + BATCH]).permute(0, 3, 1, 2).float()
                out.append(self._net((x - 127.5) / 128.0).numpy())
        return np.concatenate(out).astype(np.float32)

    def embed_detections(self, image: np.ndarray, faces: FaceDetections) -> np.ndarray:
        """``(n, 512)`` embeddings of every detected face of one image."""
        return self.embed(image, faces.boxes)
