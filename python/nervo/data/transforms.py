"""Batch transforms. Statistics are fitted on the training split only, then applied everywhere.

Each transform is called on a whole batch: ``t(x, rng=None) -> x``. Random ones need ``rng`` (a
``numpy.random.Generator``; the DataLoader passes one keyed by seed and epoch). Image batches are
``(N, C, H, W)``.
"""
from __future__ import annotations

import numpy as np


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self):
        return f"Compose({self.transforms!r})"


class Normalize:
    """``(x - mean) / std`` with given mean and std (broadcast per channel for images).

    Args:
        mean, std: scalars or per-channel sequences; std must be > 0.
    """

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if np.any(~(self.std > 0)):
            raise ValueError(f"Normalize: std must be > 0, got {std}")

    def _shaped(self, x):
        if self.mean.ndim == 1 and x.ndim == 4:  # per-channel on (N, C, H, W)
            return self.mean.reshape(1, -1, 1, 1), self.std.reshape(1, -1, 1, 1)
        return self.mean, self.std

    def __call__(self, x, rng=None):
        mean, std = self._shaped(x)
        return ((np.asarray(x, dtype=np.float32) - mean) / std).astype(np.float32, copy=False)

    def state_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    def __repr__(self):
        return f"{type(self).__name__}(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Standardize(Normalize):
    """Zero mean, unit variance with statistics fitted on the training data: ``fit(X_train)``.

    Args:
        per_channel: for ``(N, C, H, W)`` images, one mean/std per channel (else per feature:
            every position gets its own statistics).
        eps: added to std so constant features do not divide by zero.
    Example:
        >>> s = Standardize().fit(np.array([[0.0], [2.0]]))
        >>> np.round(s(np.array([[2.0]])), 4).tolist()
        [[1.0]]
    """

    def __init__(self, per_channel: bool = True, eps: float = 1e-7):
        self.per_channel = per_channel
        self.eps = eps
        self.mean = None
        self.std = None

    def fit(self, x) -> "Standardize":
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"Standardize.fit: need a non-empty batch, got shape {x.shape}")
        axes = (0, 2, 3) if (self.per_channel and x.ndim == 4) else 0
        self.mean = x.mean(axis=axes).astype(np.float32)
        self.std = (x.std(axis=axes) + self.eps).astype(np.float32)
        return self

    def __call__(self, x, rng=None):
        if self.mean is None:
            raise RuntimeError("Standardize: call fit(X_train) before transforming")
        return super().__call__(x, rng)

    def load_state_dict(self, state: dict) -> "Standardize":
        self.mean = np.asarray(state["mean"], dtype=np.float32)
        self.std = np.asarray(state["std"], dtype=np.float32)
        return self


def _need_images(name, x):
    if x.ndim != 4:
        raise ValueError(f"{name}: expects image batches (N, C, H, W), got shape {x.shape}")


def _need_rng(name, rng):
    if rng is None:
        raise ValueError(f"{name}: needs a numpy Generator rng (the DataLoader passes one)")


class RandomCrop:
    """Pad each image by ``padding`` (zeros) and crop a random ``size x size`` window.

    Example:
        >>> RandomCrop(4, padding=1)(np.ones((2, 1, 4, 4), np.float32), np.random.default_rng(0)).shape
        (2, 1, 4, 4)
    """

    def __init__(self, size: int, padding: int = 0):
        if size <= 0 or padding < 0:
            raise ValueError(f"RandomCrop: need size > 0 and padding >= 0, got {size}, {padding}")
        self.size = int(size)
        self.padding = int(padding)

    def __call__(self, x, rng=None):
        _need_images("RandomCrop", x)
        _need_rng("RandomCrop", rng)
        n, c, h, w = x.shape
        p, s = self.padding, self.size
        if s > h + 2 * p or s > w + 2 * p:
            raise ValueError(f"RandomCrop: crop {s} larger than padded image {(h + 2 * p, w + 2 * p)}")
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        dy = rng.integers(0, h + 2 * p - s + 1, size=n)
        dx = rng.integers(0, w + 2 * p - s + 1, size=n)
        # Gather all crops at once: rows[i] = dy[i] + arange(s), cols likewise.
        rows = (dy[:, None] + np.arange(s))[:, None, :, None]
        cols = (dx[:, None] + np.arange(s))[:, None, None, :]
        out = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]
        return np.ascontiguousarray(out)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x, rng=None):
        _need_images("RandomHorizontalFlip", x)
        _need_rng("RandomHorizontalFlip", rng)
        flip = rng.random(len(x)) < self.p
        out = np.array(x, copy=True)
        out[flip] = out[flip][..., ::-1]
        return out

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"
