"""In-place ops under autograd: gradients match torch, leaves that require grad refuse in-place
writes in grad mode, and a backward that needs a value overwritten in place raises."""
import numpy as np
import pytest

import nervo
import nervo.functional as F
from tests.gradcheck import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

X0 = np.array([[0.5, -1.5, 2.0], [1.2, -0.3, 0.8]])
W0 = np.array([[1.5, 0.7, -0.4], [0.9, 2.0, 1.1]])

# name -> fn(y, w, mod) applying in-place ops to the non-leaf y (and reading w, which requires
# grad); returns the tensor to reduce.
OPS = {
    "add_": lambda y, w, m: y.add_(w),
    "add_alpha": lambda y, w, m: y.add_(w, alpha=2.5),
    "sub_": lambda y, w, m: y.sub_(w, alpha=0.5),
    "mul_tensor": lambda y, w, m: y.mul_(w),
    "mul_scalar": lambda y, w, m: y.mul_(3.0),
    "div_": lambda y, w, m: y.div_(w),
    "pow_": lambda y, w, m: y.abs().add_(0.5).pow_(1.5),
    "neg_": lambda y, w, m: y.neg_(),
    "clamp_": lambda y, w, m: y.clamp_(-1.0, 1.0),
    "zero_": lambda y, w, m: y.zero_().add_(w),
    "fill_": lambda y, w, m: y.fill_(2.0).mul_(w),
    "fill_tensor": lambda y, w, m: y.fill_(w[0, 1]),
    "relu_": lambda y, w, m: y.relu_(),
    "F.relu_": lambda y, w, m: m.relu_(y),
    "copy_": lambda y, w, m: y.copy_(w * 2),
    "copy_broadcast": lambda y, w, m: y.copy_(w[0]),
    "masked_fill_": lambda y, w, m: y.masked_fill_(w > 1.0, 0.0),
    "iadd": lambda y, w, m: _iop(y, w, "add"),
    "isub": lambda y, w, m: _iop(y, w, "sub"),
    "imul": lambda y, w, m: _iop(y, w, "mul"),
    "idiv": lambda y, w, m: _iop(y, w, "div"),
    "setitem_row": lambda y, w, m: _set(y, 0, w[1] * 2),
    "setitem_slice_scalar": lambda y, w, m: _set(y, (slice(None), slice(1, None)), 4.0),
    "setitem_adv": lambda y, w, m: _set(y, (slice(None), [2, 0]), w[:, :2]),
    "setitem_broadcast": lambda y, w, m: _set(y, (slice(None), 1), w[0, 0]),
    "chain": lambda y, w, m: _set(y.mul_(w).add_(1.0), (1, 1), w[0, 2]).clamp_(-2, 3).relu_(),
}


def _iop(y, w, op):
    if op == "add":
        y += w
    elif op == "sub":
        y -= w
    elif op == "mul":
        y *= w
    else:
        y /= w
    return y


def _set(y, idx, v):
    y[idx] = v
    return y


def _run(mod, tensor, name):
    x = tensor(X0, requires_grad=True)
    w = tensor(W0, requires_grad=True)
    y = x * 1.5
    early = y * 1.0  # consumer recorded before the in-place op: must see the old version
    out = OPS[name](y, w, mod if mod is torch else F)
    cot = tensor(np.arange(6.0).reshape(2, 3))
    ((out * cot).sum() + (early * early).sum()).backward()
    return out.detach().numpy(), x.grad, w.grad


@pytest.mark.parametrize("name", sorted(OPS))
def test_inplace_gradients_match_torch(name):
    got = _run(nervo, nervo.tensor, name)
    want = _run(torch, torch.tensor, name)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for a, b, what in ((got[1], want[1], "x"), (got[2], want[2], "w")):
        a = np.zeros(X0.shape) if a is None else a.numpy()
        b = np.zeros(X0.shape) if b is None else b.numpy()
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=f"{name}: grad {what}")


@pytest.mark.parametrize("name", ["mul_tensor", "div_", "chain", "setitem_adv", "copy_"])
def test_inplace_gradients_by_central_differences(name):
    def fn(x, w):
        return OPS[name](x * 1.0, w, F)
    gradcheck(fn, X0, W0, what=name)
    gradgradcheck(lambda x, w: fn(x, w) * x, X0, W0, what=name)


def test_buffer_filled_by_setitem():
    def run(tensor, zeros):
        x = tensor([1.0, 2.0], requires_grad=True)
        buf = zeros(3, 2)
        buf[0] = x
        buf[1] = x * x
        buf[2, 1] = x[0] * 3
        (buf * tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])).sum().backward()
        return buf.detach().numpy(), x.grad.numpy()
    a, b = run(nervo.tensor, nervo.zeros), run(torch.tensor, torch.zeros)
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_", "clamp_", "zero_", "fill_",
                                "relu_", "iadd", "setitem", "copy_", "normal_"])
def test_inplace_on_leaf_requiring_grad_raises(op):
    x = nervo.ones(3, requires_grad=True)
    calls = {"add_": lambda: x.add_(1), "sub_": lambda: x.sub_(1), "mul_": lambda: x.mul_(2),
             "div_": lambda: x.div_(2), "clamp_": lambda: x.clamp_(0, 1), "zero_": x.zero_,
             "fill_": lambda: x.fill_(3), "relu_": x.relu_, "copy_": lambda: x.copy_(x * 2),
             "normal_": x.normal_, "setitem": lambda: x.__setitem__(0, 5.0),
             "iadd": lambda: x.__iadd__(1)}
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*in-place"):
        calls[op]()
    np.testing.assert_array_equal(x.numpy(), [1, 1, 1])  # nothing written
    with nervo.no_grad():
        x.add_(1)
        x[0] = 7.0
    np.testing.assert_array_equal(x.numpy(), [7, 2, 2])
    assert x.grad_fn is None and x.requires_grad


def test_saved_output_modified_raises_like_torch():
    for mod, tensor in ((nervo, nervo.tensor), (torch, torch.tensor)):
        x = tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
        s = x.sigmoid()
        s.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            s.sum().backward()
        r = (x * 1).relu_()  # relu_ saves its result; the next in-place op overwrites it
        r.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            r.sum().backward()


def test_saved_input_modified_raises_like_torch():
    for mod, tensor in ((nervo, nervo.tensor), (torch, torch.tensor)):
        w = tensor([1.0, 2.0], requires_grad=True)
        h = tensor([3.0, 4.0], requires_grad=True) * 1.0
        y = (h * w).sum()
        h.mul_(2)  # h was saved by the product (to compute w's gradient)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()
        # a parameter updated under no_grad between forward and backward
        p = tensor([1.0, 2.0], requires_grad=True)
        z = (tensor([3.0, 4.0], requires_grad=True) * p).sum()
        with mod.no_grad():
            p.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward()
        m = tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True) * 1.0
        q = (m @ m).sum()
        m.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            q.backward()


def test_modified_input_not_saved_is_fine():
    # add saves nothing: torch accepts this, and so does nervo (gradient routed to the old
    # version of y)
    x = nervo.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = y + 1
    y.mul_(x)
    (z.sum() + y.sum()).backward()
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    yt = xt * 3
    zt = yt + 1
    yt.mul_(xt)
    (zt.sum() + yt.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())


def test_inplace_on_a_view_raises():
    x = nervo.ones(2, 3, requires_grad=True)
    y = x * 2
    v = y[0]
    with pytest.raises(RuntimeError, match="view"):
        v.mul_(2)
    with pytest.raises(RuntimeError, match="view"):
        y.reshape(-1)[1] = 5.0
    # a view taken before its base is modified in place: refused at backward, not wrong
    y2 = x * 2
    v2 = y2.reshape(-1)
    y2.mul_(3)
    with pytest.raises(RuntimeError, match="view"):
        v2.sum().backward()
    # a copy (advanced index) is not a view: fine
    c = y[[0, 1]]
    c.mul_(2)
    c.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 4.0))


def test_inplace_without_grad_is_plain_and_aliases_see_it():
    a = np.zeros(3, np.float32)
    t = nervo.from_numpy(a)
    t += 1
    t.mul_(3)
    t[1] = 7
    np.testing.assert_array_equal(a, [3, 7, 3])
    assert t.grad_fn is None and not t.requires_grad


def test_inplace_shape_errors():
    y = nervo.ones(3, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match="broadcast"):
        y.add_(nervo.ones(2, 3))
    with pytest.raises(RuntimeError, match="cannot copy"):
        nervo.ones(3).copy_(nervo.ones(4))


def test_training_loop_unaffected_by_inplace_writes_between_steps():
    # Writes under no_grad after backward (parameter updates, grad clipping) must not trip the
    # checks of the next step's graph.
    w = nervo.tensor([1.0, -1.0], requires_grad=True)
    for _ in range(3):
        loss = ((w * w).sum() - 1) ** 2
        loss.backward()
        with nervo.no_grad():
            w.sub_(w.grad * 0.1)
            w.grad.zero_()
    assert np.isfinite(w.numpy()).all()


def test_writes_through_data_are_untracked_like_torch():
    for mod, tensor in ((nervo, nervo.tensor), (torch, torch.tensor)):
        w = tensor([1.0, 2.0], requires_grad=True)
        y = (w * w).sum()
        w.data.mul_(2)  # the escape hatch: no version bump, backward reads the new values
        y.backward()
        np.testing.assert_allclose(np.asarray(w.grad.tolist()), [4.0, 8.0])
        v = tensor([1.0, 2.0], requires_grad=True)
        z = (v * v).sum()
        with mod.no_grad():
            v.detach().mul_(2)  # detach() shares the version: tracked
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward()
