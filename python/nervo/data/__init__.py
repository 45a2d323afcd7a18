"""Data pipeline: datasets, a prefetching DataLoader, transforms fitted on the training split, and
loaders for local data (IDX / Fashion-MNIST, scikit-learn digits, CSV, NumPy).

Depends on NumPy only (scikit-learn for the digits loader). Batches are NumPy arrays; the trainer
turns them into tensors. Shape vocabulary: N samples, C channels, H x W images, F features.
"""
from nervo.data.dataset import ArrayDataset, Dataset, Subset, random_split, train_val_split
from nervo.data.loader import DataLoader
from nervo.data.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Standardize,
)
from nervo.data.datasets import (
    DATASETS,
    DEFAULT_FASHION_MNIST_DIR,
    DataFileError,
    load_csv,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_idx,
    load_npz,
)

__all__ = [
    "Dataset", "ArrayDataset", "Subset", "random_split", "train_val_split", "DataLoader",
    "Compose", "Normalize", "Standardize", "RandomCrop", "RandomHorizontalFlip",
    "DATASETS", "DEFAULT_FASHION_MNIST_DIR", "DataFileError", "load_csv", "load_dataset",
    "load_digits", "load_fashion_mnist", "load_idx", "load_npz",
]
