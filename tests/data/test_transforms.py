"""Transforms: statistics from the training split, augmentation correctness and determinism."""
import numpy as np
import pytest

from nervo.data import Compose, Normalize, RandomCrop, RandomHorizontalFlip, Standardize


def test_standardize_fits_on_train_only():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(500, 4)).astype(np.float32)
    test = rng.normal(3.0, 2.0, size=(100, 4)).astype(np.float32)
    s = Standardize().fit(train)
    z = s(train)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    zt = s(test)
    np.testing.assert_allclose(zt, (test - train.mean(0)) / (train.std(0) + 1e-7), rtol=1e-5, atol=1e-5)
    assert z.dtype == np.float32


def test_standardize_per_channel_images_and_constant_feature():
    x = np.random.default_rng(1).random((20, 3, 4, 4)).astype(np.float32)
    s = Standardize(per_channel=True).fit(x)
    assert s.mean.shape == (3,)
    z = s(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    c = Standardize().fit(np.ones((5, 2)))
    assert np.all(np.isfinite(c(np.ones((1, 2)))))
    r = Standardize().load_state_dict(s.state_dict())
    np.testing.assert_array_equal(r(x), z)


def test_standardize_errors():
    with pytest.raises(RuntimeError, match="fit"):
        Standardize()(np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-empty"):
        Standardize().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="std"):
        Normalize(0.0, 0.0)


def test_normalize_per_channel():
    x = np.ones((2, 2, 3, 3), np.float32)
    out = Normalize([1.0, 0.0], [1.0, 0.5])(x)
    assert np.all(out[:, 0] == 0) and np.all(out[:, 1] == 2)


def test_random_crop_matches_a_loop_reference():
    x = np.random.default_rng(2).random((6, 2, 5, 7)).astype(np.float32)
    out = RandomCrop(5, padding=2)(x, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    dy = rng.integers(0, 5, size=6)
    dx = rng.integers(0, 3 + 4, size=6)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for i in range(6):
        np.testing.assert_array_equal(out[i], padded[i, :, dy[i]:dy[i] + 5, dx[i]:dx[i] + 5])
    assert out.flags.c_contiguous


def test_flip_and_compose():
    x = np.arange(2 * 1 * 2 * 3, dtype=np.float32).reshape(2, 1, 2, 3)
    out = RandomHorizontalFlip(p=1.0)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, x[..., ::-1])
    assert np.array_equal(RandomHorizontalFlip(p=0.0)(x, np.random.default_rng(0)), x)
    t = Compose([RandomCrop(2, padding=0), RandomHorizontalFlip()])
    a = t(x, np.random.default_rng(5))
    b = t(x, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 1, 2, 2)


@pytest.mark.parametrize("t", [RandomCrop(2), RandomHorizontalFlip()])
def test_augmentation_errors(t):
    with pytest.raises(ValueError, match="N, C, H, W"):
        t(np.ones((2, 3)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng"):
        t(np.ones((1, 1, 3, 3)), None)


def test_bad_augmentation_parameters():
    with pytest.raises(ValueError):
        RandomCrop(0)
    with pytest.raises(ValueError):
        RandomCrop(3, padding=-1)
    with pytest.raises(ValueError, match="larger"):
        RandomCrop(9, padding=1)(np.ones((1, 1, 3, 3)), np.random.default_rng(0))
    with pytest.raises(ValueError):
        RandomHorizontalFlip(1.5)
