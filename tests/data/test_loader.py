"""DataLoader, datasets and splits: order, determinism, prefetching, errors."""
import threading

import numpy as np
import pytest

from nervo.data import ArrayDataset, DataLoader, Dataset, Subset, random_split, train_val_split


def _data(n=23):
    return np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n)


@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_cover_data_in_order(prefetch, drop_last):
    x, y = _data()
    dl = DataLoader((x, y), batch_size=5, drop_last=drop_last, prefetch=prefetch)
    batches = list(dl)
    assert len(batches) == len(dl) == (4 if drop_last else 5)
    ys = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(ys, y[:len(ys)])
    assert all(len(b[0]) == 5 for b in batches[:4])


def test_seeded_shuffle_depends_on_seed_and_epoch_only():
    x, y = _data(50)
    a = DataLoader((x, y), batch_size=7, shuffle=True, seed=3)
    e0 = np.concatenate([b[1] for b in a])
    e1 = np.concatenate([b[1] for b in a])
    assert sorted(e0.tolist()) == list(range(50)) and not np.array_equal(e0, e1)
    b = DataLoader((x, y), batch_size=7, shuffle=True, seed=3)
    b.set_epoch(1)
    np.testing.assert_array_equal(np.concatenate([t[1] for t in b]), e1)
    c = DataLoader((x, y), batch_size=7, shuffle=True, seed=4)
    assert not np.array_equal(np.concatenate([t[1] for t in c]), e0)
    state = a.state_dict()
    d = DataLoader((x, y), batch_size=7, shuffle=True)
    d.load_state_dict(state)
    assert d.epoch == 2 and d.seed == 3


def test_transform_is_seeded_and_applied_to_x_only():
    x, y = _data(10)
    calls = []

    def t(xb, rng):
        calls.append(rng.random())
        return xb * 0 + 1

    dl = DataLoader((x, y), batch_size=4, transform=t, seed=1)
    out = list(dl)
    assert all(np.all(b[0] == 1) for b in out)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in out]), y)
    first = calls[:]
    calls.clear()
    dl.set_epoch(0)
    list(dl)
    assert calls == first


class Boom(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 6:
            raise KeyError("sample 6 is broken")
        return np.float32(i), i


def test_worker_exception_reaches_the_consumer():
    with pytest.raises(KeyError, match="sample 6"):
        list(DataLoader(Boom(), batch_size=3))


def test_generic_dataset_is_stacked():
    ds = Subset(Boom(), [0, 1, 2, 3])
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.tolist() == [0, 1, 2, 3] and yb.tolist() == [0, 1, 2, 3]


def test_early_break_stops_the_worker():
    x, y = _data(1000)
    before = threading.active_count()
    for _ in range(5):
        for i, _b in enumerate(DataLoader((x, y), batch_size=2, prefetch=1)):
            if i == 3:
                break
    assert threading.active_count() == before


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": 2.5}, ValueError, "batch_size"),
    ({"batch_size": True}, ValueError, "batch_size"),
    ({"prefetch": -1}, ValueError, "prefetch"),
])
def test_loader_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DataLoader(_data(), **kwargs)


def test_loader_bad_dataset():
    with pytest.raises(TypeError, match="Dataset"):
        DataLoader(42)


def test_array_dataset_errors():
    with pytest.raises(ValueError, match="different lengths"):
        ArrayDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="0-d"):
        ArrayDataset(np.float32(1))
    with pytest.raises(ValueError, match="at least one"):
        ArrayDataset()


def test_empty_dataset_gives_no_batches():
    assert list(DataLoader((np.zeros((0, 3)), np.zeros(0)), batch_size=4)) == []


def test_random_split():
    ds = ArrayDataset(*_data(10))
    a, b = random_split(ds, [7, 3], seed=1)
    assert len(a) == 7 and len(b) == 3
    ids = sorted(np.concatenate([a.indices, b.indices]).tolist())
    assert ids == list(range(10))
    c, d = random_split(ds, [0.5, 0.5])
    assert len(c) + len(d) == 10
    with pytest.raises(ValueError, match="sum to"):
        random_split(ds, [3, 3])
    with pytest.raises(ValueError, match="negative"):
        random_split(ds, [11, -1])


def test_train_val_split_stratified():
    y = np.repeat(np.arange(4), 25)
    x = np.arange(100)
    (xtr, ytr), (xva, yva) = train_val_split(x, y, val_fraction=0.2, seed=0, stratify=y)
    assert np.bincount(yva).tolist() == [5, 5, 5, 5]
    assert sorted(np.concatenate([xtr, xva]).tolist()) == list(range(100))
    np.testing.assert_array_equal(y[xva], yva)
    (xtr2, _), _ = train_val_split(x, y, val_fraction=0.2, seed=0, stratify=y)
    np.testing.assert_array_equal(xtr, xtr2)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="val_fraction"):
            train_val_split(x, y, val_fraction=bad)
    with pytest.raises(ValueError, match="different lengths"):
        train_val_split(x, y[:-1])
