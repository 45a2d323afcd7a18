"""Loaders for real data from local files only (nothing is downloaded).

- IDX files (the MNIST / Fashion-MNIST format), gzipped or not: ``load_idx``, ``load_fashion_mnist``
  (default directory ``/usr/share/datasets/fashion-mnist``, Debian package ``dataset-fashion-mnist``).
- scikit-learn's handwritten digits (bundled with scikit-learn): ``load_digits``.
- Tabular data: ``load_csv``, ``load_npz``.

Images come back as float32 ``(N, 1, H, W)`` scaled to [0, 1]; labels as int64 ``(N,)``.
A missing or corrupt file raises ``DataFileError`` (a ``FileNotFoundError`` or ``ValueError``
subclass) saying what was expected where.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]

# IDX type codes -> big-endian NumPy dtypes (http://yann.lecun.com/exdb/mnist/).
_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DataFileError(ValueError):
    """A data file is corrupt or not what was expected (the message says which and where)."""


class DataFileMissing(DataFileError, FileNotFoundError):
    """A data file that should exist does not."""


def load_idx(path) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain, detected from the content) into a NumPy array.

    Raises:
        DataFileMissing: no such file.
        DataFileError: bad magic, unknown type code, or a size that disagrees with the header.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileMissing(f"load_idx: no IDX file at {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataFileError(f"load_idx: {path} is a corrupt gzip file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFileError(f"load_idx: {path} is not an IDX file (expected magic 00 00 <type> <ndim>, "
                            f"got {raw[:4].hex(' ') or 'an empty file'})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DataFileError(f"load_idx: {path} has unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"load_idx: {path} is truncated inside its header ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFileError(f"load_idx: {path} should hold {expected} data bytes for shape {shape}, "
                            f"has {len(raw) - header} (truncated or corrupt)")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def _find_idx(data_dir: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (data_dir / name).is_file():
            return data_dir / name
    raise DataFileMissing(f"expected {stem}[.gz] in {data_dir} (Fashion-MNIST IDX files; "
                          f"install the Debian package dataset-fashion-mnist or pass --data-dir)")


def load_fashion_mnist(data_dir=None, split: str = "train", *, flatten: bool = False):
    """Fashion-MNIST (or MNIST: same file names) from IDX files in ``data_dir``.

    Args:
        data_dir: folder with ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``; default
            ``$NERVO_FASHION_MNIST_DIR`` or ``/usr/share/datasets/fashion-mnist``.
        split: ``"train"`` (60000) or ``"test"`` (10000).
        flatten: return ``(N, 784)`` instead of ``(N, 1, 28, 28)``.
    Returns:
        ``(X, y)``: float32 images in [0, 1] and int64 labels.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_fashion_mnist: split must be 'train' or 'test', got {split!r}")
    if data_dir is None:
        data_dir = os.environ.get("NERVO_FASHION_MNIST_DIR", DEFAULT_FASHION_MNIST_DIR)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataFileMissing(f"load_fashion_mnist: no directory {data_dir} (expected Fashion-MNIST "
                              f"IDX files there; install dataset-fashion-mnist or pass data_dir)")
    prefix = "train" if split == "train" else "t10k"
    images = load_idx(_find_idx(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = load_idx(_find_idx(data_dir, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFileError(f"load_fashion_mnist: images {images.shape} and labels {labels.shape} in "
                            f"{data_dir} do not match (expected (N, 28, 28) and (N,))")
    x = images.astype(np.float32) / np.float32(255.0)
    x = x.reshape(len(x), -1) if flatten else x[:, None, :, :]
    return np.ascontiguousarray(x), labels.astype(np.int64)


def load_digits(*, flatten: bool = False):
    """scikit-learn's handwritten digits (1797 8x8 images, 10 classes; bundled, no download).

    Returns:
        ``(X, y)``: float32 ``(N, 1, 8, 8)`` (or ``(N, 64)``) in [0, 1], int64 labels.
    """
    try:
        from sklearn.datasets import load_digits as _sk_digits
    except ImportError:
        raise ImportError("load_digits needs scikit-learn: pip install 'nervo[data]'") from None
    d = _sk_digits()
    x = (d.data / 16.0).astype(np.float32)
    x = x if flatten else x.reshape(-1, 1, 8, 8)
    return np.ascontiguousarray(x), d.target.astype(np.int64)


def load_csv(path, *, target=-1, delimiter: str = ",", header: bool | None = None,
             dtype=np.float32):
    """A numeric CSV file as ``(X, y)``; column ``target`` (index or header name) is ``y``.

    Args:
        header: whether the first line holds column names (default: guessed: it does if it
            does not parse as numbers).
        target: the label column (index or name), or ``None`` to return only ``X``.
    Raises:
        DataFileMissing / DataFileError: missing file, non-numeric cells, ragged rows.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileMissing(f"load_csv: no CSV file at {path}")
    with open(path, newline="") as f:
        first = f.readline()
    names = None
    if header is None:
        try:
            [float(v) for v in first.strip().split(delimiter)]
            header = False
        except ValueError:
            header = True
    if header:
        names = [v.strip() for v in first.strip().split(delimiter)]
    try:
        data = np.loadtxt(path, delimiter=delimiter, skiprows=1 if header else 0, dtype=np.float64,
                          ndmin=2)
    except ValueError as exc:
        raise DataFileError(f"load_csv: {path} is not a numeric CSV ({exc})") from None
    if data.size == 0:
        raise DataFileError(f"load_csv: {path} has no data rows")
    if target is None:
        return data.astype(dtype)
    if isinstance(target, str):
        if names is None or target not in names:
            raise ValueError(f"load_csv: no column named {target!r} in {path} (columns: {names})")
        target = names.index(target)
    ncol = data.shape[1]
    if not -ncol <= target < ncol:
        raise ValueError(f"load_csv: target column {target} out of range for {ncol} columns")
    target %= ncol
    y = data[:, target]
    x = np.delete(data, target, axis=1).astype(dtype)
    if np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return x, y


def load_npz(path, *, x_key: str = "x", y_key: str = "y"):
    """``(X, y)`` from a NumPy ``.npz`` (loaded with ``allow_pickle=False``)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileMissing(f"load_npz: no .npz file at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in (x_key, y_key) if k not in z.files]
            if missing:
                raise DataFileError(f"load_npz: {path} lacks arrays {missing} (has {z.files})")
            return z[x_key], z[y_key]
    except (OSError, zlib.error, EOFError) as exc:
        raise DataFileError(f"load_npz: {path} is not a readable .npz file ({exc})") from None
    except ValueError as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(f"load_npz: {path} is not a readable .npz file ({exc})") from None


def _digits_splits(data_dir=None, flatten=False, seed=0):
    x, y = load_digits(flatten=flatten)
    # A fixed, stratified 80/20 holdout: the same test set in every run and every seed.
    from nervo.data.dataset import train_val_split
    (xtr, ytr), (xte, yte) = train_val_split(x, y, val_fraction=0.2, seed=12345, stratify=y)
    return (xtr, ytr), (xte, yte)


def _fashion_splits(data_dir=None, flatten=False, seed=0):
    return (load_fashion_mnist(data_dir, "train", flatten=flatten),
            load_fashion_mnist(data_dir, "test", flatten=flatten))


DATASETS = {
    "digits": {"load": _digits_splits, "shape": (1, 8, 8), "classes": [str(i) for i in range(10)]},
    "fashion-mnist": {"load": _fashion_splits, "shape": (1, 28, 28), "classes": FASHION_MNIST_CLASSES},
}


def load_dataset(name: str, data_dir=None, *, flatten: bool = False):
    """A named dataset's ``((X_train, y_train), (X_test, y_test))``: ``digits`` or ``fashion-mnist``.

    ``digits`` has no official test split; a fixed stratified 20% holdout is used.
    """
    if name not in DATASETS:
        raise ValueError(f"load_dataset: unknown dataset {name!r} (choose from {sorted(DATASETS)})")
    return DATASETS[name]["load"](data_dir, flatten)
