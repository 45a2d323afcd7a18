"""Transfer learning end to end: pretrain, freeze, new head, fine-tune on a small sample beats
training from scratch; PyTorch state_dicts saved as safetensors load with matching keys."""
import numpy as np
import pytest

import nervo
from nervo import nn, optim
from nervo import train as T
from nervo.data import load_digits

pytest.importorskip("sklearn")


def _mlp(k):
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, k))


def _split():
    """Source task: which digit (10 classes) on 60% of the images. Target task: is the digit
    odd (2 classes), learned from 24 of the other images, scored on the rest."""
    x, y = load_digits(flatten=True)
    x = (x - 0.3) / 0.4
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(y))
    src, tgt = perm[:1078], perm[1078:]
    small = np.concatenate([rng.choice(tgt[y[tgt] == c], 2, replace=False) for c in range(10)] +
                           [rng.choice(tgt, 4, replace=False)])
    small = np.unique(small)
    rest = np.setdiff1d(tgt, small)
    return (x[src], y[src]), (x[small], y[small] % 2), (x[rest], y[rest] % 2)


def test_pretrain_freeze_new_head_beats_scratch(tmp_path):
    (xs, ys), (xsmall, ysmall), (xtest, ytest) = _split()
    nervo.manual_seed(0)
    base = _mlp(10)
    T.fit(base, (xs, ys), epochs=8, batch_size=32, verbose=0,
          optimizer=optim.Adam(base.parameters(), lr=3e-3))
    nervo.save(base, tmp_path / "pre.safetensors")

    nervo.manual_seed(1)
    model = _mlp(10)
    report = T.load_pretrained(model, tmp_path / "pre.safetensors")
    assert len(report["loaded"]) == 6 and not report["missing"]
    model[4] = nn.Linear(32, 2)  # replace the head
    assert T.freeze(model, except_=[model[4]]) == 4
    params = T.trainable_parameters(model)
    assert len(params) == 2
    frozen_before = model[0].weight.numpy().copy()
    T.fit(model, (xsmall, ysmall), epochs=40, batch_size=8, verbose=0,
          optimizer=optim.Adam(params, lr=1e-2))
    np.testing.assert_array_equal(model[0].weight.numpy(), frozen_before)
    acc_transfer = T.evaluate(model, (xtest, ytest))["accuracy"]

    nervo.manual_seed(1)
    scratch = _mlp(2)
    T.fit(scratch, (xsmall, ysmall), epochs=40, batch_size=8, verbose=0,
          optimizer=optim.Adam(scratch.parameters(), lr=1e-2))
    acc_scratch = T.evaluate(scratch, (xtest, ytest))["accuracy"]
    assert acc_transfer > acc_scratch, (acc_transfer, acc_scratch)


def test_load_pretrained_reports_and_rejects():
    a, b = _mlp(5), _mlp(3)
    rep = T.load_pretrained(b, a)
    assert rep["mismatched"] and "4.weight" in rep["mismatched"][0]
    with pytest.raises(ValueError, match="shape mismatches"):
        T.load_pretrained(b, a, skip_mismatched=False)
    with pytest.raises(ValueError, match="unexpected"):
        T.load_pretrained(_mlp(5), {**a.state_dict(), "extra.weight": np.zeros(2)}, strict=True)


def test_torch_state_dict_via_safetensors(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    tm = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32),
                             torch.nn.ReLU(), torch.nn.Linear(32, 5))
    st.save_file(tm.state_dict(), str(tmp_path / "torch.safetensors"))
    model = _mlp(5)
    rep = T.load_pretrained(model, tmp_path / "torch.safetensors", strict=True)
    assert not rep["missing"] and not rep["unexpected"]
    x = np.random.default_rng(0).random((7, 64)).astype(np.float32)
    ours = T.predict(model, x)
    theirs = tm(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
