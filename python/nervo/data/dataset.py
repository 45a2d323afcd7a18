"""Datasets: indexable collections of samples, and splits of them.

A sample is a tuple of arrays (usually ``(x, y)``). Datasets that can gather many samples at once
implement ``get_batch(indices)``; the DataLoader uses it instead of stacking one sample at a time,
which matters on small models where per-sample Python work dominates.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


class Dataset:
    """Base class: implement ``__len__`` and ``__getitem__(i) -> tuple of arrays``.

    Optionally implement ``get_batch(indices) -> tuple of arrays`` (stacked along axis 0).
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def get_batch(self, indices: np.ndarray):
        """Gather samples ``indices`` into stacked arrays (default: stack ``self[i]``)."""
        samples = [self[int(i)] for i in indices]
        if not samples:
            raise ValueError("Dataset.get_batch: empty index list")
        if not isinstance(samples[0], tuple):
            return np.stack(samples)
        return tuple(np.stack([s[k] for s in samples]) for k in range(len(samples[0])))


class ArrayDataset(Dataset):
    """Samples are rows of equally long arrays: ``ArrayDataset(X, y)[i] == (X[i], y[i])``.

    Args:
        *arrays: one or more array-likes with the same first dimension.
    Raises:
        ValueError: no arrays, a 0-d array, or different lengths.
    Example:
        >>> ds = ArrayDataset(np.zeros((4, 2)), np.arange(4))
        >>> len(ds), int(ds[1][1])
        (4, 1)
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset: needs at least one array")
        arrs = []
        for k, a in enumerate(arrays):
            a = np.asarray(a)
            if a.ndim == 0:
                raise ValueError(f"ArrayDataset: array {k} is 0-d; each array needs a sample axis")
            arrs.append(a)
        n = len(arrs[0])
        lens = [len(a) for a in arrs]
        if any(m != n for m in lens):
            raise ValueError(f"ArrayDataset: arrays have different lengths {lens}")
        self.arrays = tuple(arrs)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices):
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples ``indices`` of ``dataset``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices out of range for a dataset of {n} samples")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices):
        return self.dataset.get_batch(self.indices[np.asarray(indices)])

    @property
    def arrays(self):
        """The subset's arrays (only when the parent is an ArrayDataset or a Subset of one)."""
        return self.dataset.get_batch(self.indices)


def random_split(dataset: Dataset, lengths: Sequence, *, seed: int = 0) -> list[Subset]:
    """Split into non-overlapping random subsets of the given lengths (or fractions summing to 1).

    Fractions are rounded down and the remainder is dealt round-robin, as in torch.
    Raises:
        ValueError: lengths do not add up to ``len(dataset)``, or negative.
    """
    n = len(dataset)
    lengths = list(lengths)
    if any(l < 0 for l in lengths):
        raise ValueError(f"random_split: negative length in {lengths}")
    if lengths and all(isinstance(l, float) for l in lengths) and abs(sum(lengths) - 1.0) < 1e-6:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    lengths = [int(l) for l in lengths]
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, "
                         f"but the dataset has {n} samples")
    perm = np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for l in lengths:
        out.append(Subset(dataset, perm[start:start + l]))
        start += l
    return out


def train_val_split(*arrays, val_fraction: float = 0.1, seed: int = 0, stratify=None):
    """Split arrays into train and validation parts: returns ``(train_arrays, val_arrays)``.

    Args:
        *arrays: arrays with equal first dimension (e.g. ``X, y``).
        val_fraction: fraction in (0, 1) going to validation (at least one sample each side).
        seed: the permutation's seed.
        stratify: labels to keep class proportions equal in both parts (usually ``y``).
    Returns:
        two tuples of arrays, train then validation.
    Example:
        >>> (Xtr, ytr), (Xva, yva) = train_val_split(np.zeros((10, 3)), np.arange(10), val_fraction=0.2)
        >>> len(Xtr), len(Xva)
        (8, 2)
    """
    if not arrays:
        raise ValueError("train_val_split: needs at least one array")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be in (0, 1), got {val_fraction}")
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"train_val_split: arrays have different lengths {[len(a) for a in arrays]}")
    if n < 2:
        raise ValueError(f"train_val_split: need at least 2 samples, got {n}")
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        n_val = min(max(1, int(round(n * val_fraction))), n - 1)
        val_idx, train_idx = perm[:n_val], perm[n_val:]
    else:
        labels = np.asarray(stratify)
        if len(labels) != n:
            raise ValueError(f"train_val_split: stratify has {len(labels)} labels for {n} samples")
        val_parts, train_parts = [], []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            k = int(round(len(idx) * val_fraction))
            val_parts.append(idx[:k])
            train_parts.append(idx[k:])
        val_idx = rng.permutation(np.concatenate(val_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
        if len(val_idx) == 0 or len(train_idx) == 0:
            raise ValueError("train_val_split: too few samples per class for this val_fraction")
    return tuple(a[train_idx] for a in arrays), tuple(a[val_idx] for a in arrays)
