"""The classic baseline any adapted model must beat: HOG + logistic regression.

HOG (9 orientations, 8×8-pixel cells, 2×2-cell blocks) of the 64×64 histogram-equalized gray
face, standardized, then class-balanced multinomial logistic regression (scikit-image +
scikit-learn, both imported by the functions that use them: heavy, and used only for
adaptation). Deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brandmood.core.types import EMOTIONS, N_EMOTIONS

SIZE = 64


def hog_features(crops: np.ndarray) -> np.ndarray:
    """``(n, S, S, 3)`` uint8 RGB crops → ``(n, 1764)`` float32 HOG of the equalized 64×64 gray.

    Raises:
        ValueError: for crops that are not ``(n, S, S, 3)`` uint8.
    """
    from skimage.color import rgb2gray
    from skimage.exposure import equalize_hist
    from skimage.feature import hog
    from skimage.transform import resize

    arr = np.asarray(crops)
    if arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"crops must be (n, S, S, 3) uint8 RGB, got {arr.shape} {arr.dtype}")
    out = []
    for crop in arr:
        gray = rgb2gray(crop)
        if gray.shape != (SIZE, SIZE):
            gray = resize(gray, (SIZE, SIZE), anti_aliasing=True)
        out.append(hog(equalize_hist(gray), orientations=9, pixels_per_cell=(8, 8),
                       cells_per_block=(2, 2), block_norm="L2-Hys"))
    return np.asarray(out, np.float32).reshape(len(arr), -1)


@dataclass
class HogBaseline:
    """A fitted HOG + logistic-regression classifier over the labels seen in training."""

    pipeline: object
    classes: np.ndarray

    @classmethod
    def fit(cls, crops: np.ndarray, labels: np.ndarray, *, c: float = 1.0,
            seed: int = 0) -> HogBaseline:
        """Fit on ``(n, S, S, 3)`` crops and ``(n,)`` indices into :data:`EMOTIONS`.

        Raises:
            ValueError: with fewer than two distinct labels.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = np.asarray(labels, np.int64)
        if len(set(y.tolist())) < 2:
            raise ValueError("the HOG baseline needs at least two labels")
        pipe = make_pipeline(StandardScaler(), LogisticRegression(
            C=c, max_iter=2000, class_weight="balanced", random_state=seed))
        pipe.fit(hog_features(crops), y)
        return cls(pipe, np.asarray(pipe.classes_, np.int64))

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 8)`` probabilities in :data:`EMOTIONS` order, NaN for unseen labels."""
        p = self.pipeline.predict_proba(hog_features(crops))
        out = np.full((len(p), N_EMOTIONS), np.nan, np.float32)
        out[:, self.classes] = p
        return out

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``(n,)`` predicted indices into :data:`EMOTIONS`."""
        return self.classes[np.argmax(self.pipeline.predict_proba(hog_features(crops)), axis=1)]


__all__ = ["EMOTIONS", "HogBaseline", "hog_features"]
