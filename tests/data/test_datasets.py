"""Local-data loaders: IDX (plain/gzipped, corrupt), Fashion-MNIST, digits, CSV, npz."""
import gzip
import struct

import numpy as np
import pytest

from nervo.data import (DataFileError, load_csv, load_dataset, load_digits, load_fashion_mnist,
                        load_idx, load_npz)
from nervo.data.datasets import DEFAULT_FASHION_MNIST_DIR


def _idx_bytes(arr: np.ndarray, code=0x08) -> bytes:
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write_fake_mnist(folder, n=12, gz=True):
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        img = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, size=n, dtype=np.uint8)
        for stem, arr in ((f"{prefix}-images-idx3-ubyte", img), (f"{prefix}-labels-idx1-ubyte", lab)):
            raw = _idx_bytes(arr)
            if gz:
                (folder / (stem + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (folder / stem).write_bytes(raw)
    return img, lab


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_a_folder(tmp_path, gz):
    img, lab = _write_fake_mnist(tmp_path, gz=gz)
    x, y = load_fashion_mnist(tmp_path, "test")
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x[:, 0] * 255, img, atol=1e-4)
    np.testing.assert_array_equal(y, lab)
    xf, _ = load_fashion_mnist(tmp_path, "train", flatten=True)
    assert xf.shape == (12, 784)


@pytest.mark.parametrize("code,dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16),
                                        (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)])
def test_idx_dtypes(tmp_path, code, dtype):
    a = np.arange(24).reshape(2, 3, 4).astype(dtype)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(a, code))
    back = load_idx(tmp_path / "a.idx")
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, a)


@pytest.mark.parametrize("raw,match", [
    (b"", "not an IDX"),
    (b"\x01\x00\x08\x01", "not an IDX"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 0]), "unknown IDX type"),
    (bytes([0, 0, 8, 3, 0, 0]), "truncated inside its header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "truncated or corrupt"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "truncated or corrupt"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
    (gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1]))[:-6], "corrupt gzip"),
])
def test_corrupt_idx(tmp_path, raw, match):
    p = tmp_path / "bad-idx"
    p.write_bytes(raw)
    with pytest.raises(DataFileError, match=match):
        load_idx(p)


def test_missing_files_name_what_and_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="no IDX file"):
        load_idx(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no directory"):
        load_fashion_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\[\.gz\] in"):
        load_fashion_mnist(tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist(tmp_path, "val")


def test_mismatched_images_and_labels(tmp_path):
    _write_fake_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DataFileError, match="do not match"):
        load_fashion_mnist(tmp_path, "test")


@pytest.mark.skipif(not __import__("os").path.isdir(DEFAULT_FASHION_MNIST_DIR),
                    reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    x, y = load_fashion_mnist(split="test")
    assert x.shape == (10000, 1, 28, 28) and np.bincount(y).tolist() == [1000] * 10
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_digits_and_named_datasets():
    pytest.importorskip("sklearn")
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.max() <= 1.0 and set(y.tolist()) == set(range(10))
    (xtr, ytr), (xte, yte) = load_dataset("digits")
    assert len(xtr) + len(xte) == 1797 and len(xte) == 359
    (xtr2, _), (xte2, _) = load_dataset("digits")
    np.testing.assert_array_equal(xte, xte2)  # fixed holdout
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar")


def test_csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,1\n")
    x, y = load_csv(p, target="label")
    assert x.tolist() == [[1, 2], [3, 4], [5, 6]] and y.tolist() == [0, 1, 1] and y.dtype == np.int64
    x0, y0 = load_csv(p, target=0)
    assert y0.tolist() == [1, 3, 5] and x0.shape == (3, 2)
    q = tmp_path / "n.csv"
    q.write_text("1;2.5\n3;4.5\n")
    x1, y1 = load_csv(q, delimiter=";")
    assert y1.dtype == np.float64 and y1.tolist() == [2.5, 4.5]
    assert load_csv(q, delimiter=";", target=None).shape == (2, 2)


def test_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CSV"):
        load_csv(tmp_path / "x.csv")
    p = tmp_path / "bad.csv"
    p.write_text("1,2\n3,oops\n")
    with pytest.raises(DataFileError, match="numeric"):
        load_csv(p)
    r = tmp_path / "ragged.csv"
    r.write_text("1,2\n3\n")
    with pytest.raises(DataFileError):
        load_csv(r)
    h = tmp_path / "h.csv"
    h.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no column named"):
        load_csv(h, target="c")
    with pytest.raises(ValueError, match="out of range"):
        load_csv(h, target=5)


def test_npz(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.ones((3, 2)), y=np.arange(3))
    x, y = load_npz(p)
    assert x.shape == (3, 2) and y.tolist() == [0, 1, 2]
    with pytest.raises(DataFileError, match="lacks"):
        load_npz(p, y_key="labels")
    q = tmp_path / "bad.npz"
    q.write_bytes(b"garbage")
    with pytest.raises(DataFileError, match="not a readable"):
        load_npz(q)
    o = tmp_path / "obj.npz"
    np.savez(o, x=np.array([{"a": 1}], dtype=object), y=np.arange(1))
    with pytest.raises(DataFileError):
        load_npz(o)
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "none.npz")
