"""nervo.Tensor: a NumPy array plus autograd metadata, with PyTorch's names and semantics.

A Tensor holds a NumPy array (``.numpy()`` returns it without a copy; float32 by default) and,
when it takes part in autograd, ``requires_grad``, ``grad`` (a Tensor or None) and ``grad_fn``
(the :class:`nervo.autograd.Node` that produced it, None for leaves). The math lives in
``nervo.functional``; the operators and methods here are bound to those functions at import.

Differences from torch (each deliberate):

* CPU only, no device argument beyond ``"cpu"``; dtypes are NumPy dtypes (``nervo.float32`` is
  ``numpy.float32``).
* ``.numpy()`` also works on tensors that require grad (it returns the underlying array).
* In-place ops (``add_``, ``mul_``, ``x[i] = v``, ``+=``, ...) are recorded by autograd with
  torch's checks, except that an in-place op on a view of a tensor that requires grad raises
  (nervo cannot rewrite the base tensor's history; clone() the view first).
"""
from __future__ import annotations

import numpy as np

from nervo import autograd as _ag
from nervo.autograd import mode as _mode

__all__ = [
    "Tensor", "tensor", "as_tensor", "from_numpy", "from_dlpack", "zeros", "ones", "empty",
    "full", "zeros_like", "ones_like", "empty_like", "full_like", "rand", "randn", "randint",
    "randperm", "arange", "linspace", "eye", "is_tensor", "float32", "float64", "float16",
    "int64", "int32", "int8", "uint8", "bool_", "get_default_dtype", "set_default_dtype",
]

float32 = np.float32
float64 = np.float64
float16 = np.float16
int64 = np.int64
int32 = np.int32
int8 = np.int8
uint8 = np.uint8
bool_ = np.bool_
_F32 = np.dtype(np.float32)
_default = {"dtype": _F32}


def get_default_dtype():
    return _default["dtype"]


def set_default_dtype(dtype) -> None:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"nervo.set_default_dtype: only float32 and float64 are supported, got {dt}")
    _default["dtype"] = dt


_tnew = object.__new__


class Tensor:
    """An n-dimensional array that can record the ops applied to it (see the module docstring)."""

    # NOTE: ``_inplace`` is set only by in-place ops (read with getattr(t, "_inplace", None)):
    # the hot constructors below do not pay for it. See nervo.autograd, "In-place ops".
    __slots__ = ("_data", "requires_grad", "grad", "grad_fn", "_hooks", "_retain", "_inplace",
                 "__weakref__")

    def __init__(self, data=None, requires_grad: bool = False, dtype=None):
        if data is None:
            data = np.empty((0,), _default["dtype"])
        self._data = _to_array(data, dtype, "nervo.Tensor")
        if requires_grad:
            _check_can_require_grad(self._data, "nervo.Tensor")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.grad_fn = None
        self._hooks = None
        self._retain = False

    @classmethod
    def _wrap(cls, a):
        """A Tensor holding ``a`` (an ndarray, taken as is): the hot-path constructor."""
        t = _tnew(cls)
        t._data = a
        t.requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._hooks = None
        t._retain = False
        return t

    # ----------------------------------------------------------------- array-like properties
    @property
    def shape(self):
        return self._data.shape

    def size(self, dim=None):
        if dim is None:
            return self._data.shape
        return self._data.shape[dim]

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    nelement = numel

    @property
    def device(self):
        return "cpu"

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def element_size(self):
        return self._data.itemsize

    def is_contiguous(self):
        return self._data.flags.c_contiguous

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[dim]

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    @property
    def data(self):
        """A Tensor sharing this one's array, outside autograd (torch's ``.data``). As in torch,
        in-place writes through it are not version-tracked (the escape hatch); writes through
        ``detach()`` are."""
        t = Tensor._wrap(self._data)
        t._inplace = False  # untracked: see _inplace_op
        return t

    @data.setter
    def data(self, value):
        self._data = value._data if isinstance(value, Tensor) else _to_array(value, None,
                                                                             "Tensor.data")

    # ----------------------------------------------------------------- conversion
    def numpy(self, force: bool = False) -> np.ndarray:
        """The underlying array (no copy)."""
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        if copy:
            return a.copy()
        return a

    def item(self):
        if self._data.size != 1:
            raise ValueError(f"Tensor.item: only one-element tensors can be converted to a Python "
                             f"scalar (got shape {tuple(self._data.shape)})")
        return self._data.reshape(-1)[0].item()

    def tolist(self):
        return self._data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._data.size} elements is "
                               "ambiguous")
        return bool(self._data.reshape(-1)[0])

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self):
        return id(self)

    def __repr__(self):
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = ""
        if self._data.dtype != _default["dtype"] and self._data.dtype.kind != "i":
            extra += f", dtype=nervo.{self._data.dtype}"
        elif self._data.dtype.kind == "i" and self._data.dtype != np.int64:
            extra += f", dtype=nervo.{self._data.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn=<{self.grad_fn.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ----------------------------------------------------------------- DLPack
    def __dlpack__(self, stream=None, **kwargs):
        return self._data.__dlpack__(**kwargs) if kwargs else self._data.__dlpack__()

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def to_dlpack(self):
        """A DLPack capsule of this tensor's array (zero copy)."""
        return self._data.__dlpack__()

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) (times ``gradient``) into every leaf's ``.grad``.

        With ``create_graph=True`` the gradients are built from recorded ops, so ``.grad`` has a
        graph and can be differentiated again (``retain_graph`` then defaults to True).

        Raises:
            RuntimeError: self does not require grad, is not a scalar and no gradient is given,
                or the graph was already freed by an earlier backward().
        """
        if gradient is None and inputs is None and not create_graph and self.grad_fn is not None:
            a = self._data
            if a.size != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for scalar "
                                   f"outputs (got shape {tuple(a.shape)}); pass gradient=")
            _ag._run((self,), (np.ones(a.shape, a.dtype),), retain_graph)
            return
        _ag.backward([self], None if gradient is None else [gradient], retain_graph,
                     create_graph, inputs)

    def detach(self):
        """A new leaf Tensor sharing this one's array, outside the graph."""
        return Tensor._wrap(self._data)

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True):
        if requires_grad:
            _check_can_require_grad(self._data, "Tensor.requires_grad_")
        elif self.grad_fn is not None:
            raise RuntimeError("Tensor.requires_grad_(False): you can only change requires_grad of "
                               "leaf tensors; use detach() on a non-leaf")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep ``.grad`` of this non-leaf tensor after backward()."""
        if not self.requires_grad:
            raise RuntimeError("Tensor.retain_grad: the tensor does not require grad")
        if self.grad_fn is not None:
            self._retain = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned Tensor replaces
        the gradient. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("Tensor.register_hook: cannot register a hook on a tensor that "
                               "doesn't require gradient")
        if self._hooks is None:
            self._hooks = {}
        return _RemovableHandle(self._hooks, hook)

    # ----------------------------------------------------------------- in-place ops
    def _inplace_op(self, name, others, outofplace):
        """The recorded path of in-place op ``name`` (callers test :meth:`_record` first and
        write directly when nothing needs recording): ``outofplace(proxy)`` computes the result
        as a recorded op on a proxy holding self's old identity (grad_fn, values), the values are
        written into self's array and self takes the new grad_fn. Every write is logged
        (nervo.autograd: "In-place ops") so that a backward reading an overwritten value
        raises."""
        if self.requires_grad and self.grad_fn is None:
            raise RuntimeError(f"Tensor.{name}: a leaf tensor that requires grad is being used in "
                               "an in-place operation; wrap it in `with nervo.no_grad():` or use "
                               "an out-of-place op")
        node = self.grad_fn
        if node is not None and node.name in _ag._VIEW_OPS and node.inputs[0] is not None \
                and np.may_share_memory(self._data, node.inputs[0]._data):
            raise RuntimeError(f"Tensor.{name}: in-place op on a view ({node.name}) of a tensor "
                               "that requires grad; nervo's autograd cannot rewrite the base "
                               "tensor's history (torch can). clone() the view first")
        old = self._data
        seq = _ag._next_seq()  # before the new node: that node comes after this write
        proxy = Tensor._wrap(old.copy())
        proxy.requires_grad = self.requires_grad
        proxy.grad_fn = node
        r = outofplace(proxy)
        rd = r._data
        if rd.shape != old.shape:
            raise RuntimeError(f"Tensor.{name}: the result has shape {tuple(rd.shape)}, which "
                               f"does not match the tensor's shape {tuple(old.shape)} (an in-place "
                               "op cannot broadcast the tensor it writes to)")
        np.copyto(old, rd, casting="unsafe")
        _ag.bump(old, seq)
        proxy._inplace = seq
        hist = getattr(self, "_inplace", None)
        if type(hist) is not list:
            hist = []
        hist.append((seq, proxy))
        self._inplace = hist
        self.grad_fn = r.grad_fn
        self.requires_grad = r.requires_grad
        return self

    def _wrote(self):
        """Log a direct (unrecorded) in-place write; ``.data`` tensors are untracked."""
        if getattr(self, "_inplace", None) is not False:
            _ag.bump(self._data)
        return self

    def _record(self, other=None):
        """Whether an in-place op must go through the recorded path (or raise for a leaf)."""
        return _mode.enabled and (self.requires_grad or (isinstance(other, Tensor)
                                                         and other.requires_grad))

    def zero_(self):
        if self._record():
            return self._inplace_op("zero_", (), lambda p: _basic.masked_fill(p, True, 0))
        self._data[...] = 0
        return self._wrote()

    def fill_(self, value):
        if self._record(value):
            if isinstance(value, Tensor) and value.requires_grad:
                if value._data.size != 1:
                    raise RuntimeError(f"Tensor.fill_: value must be a 0-d tensor, got shape "
                                       f"{tuple(value._data.shape)}")
                mask = np.ones(self._data.shape, bool)
                return self._inplace_op("fill_", (value,), lambda p: _basic.where(
                    mask, value.reshape(()), p))
            return self._inplace_op("fill_", (), lambda p: _basic.masked_fill(p, True, value))
        self._data[...] = _scalar(value)
        return self._wrote()

    def copy_(self, src):
        s = src._data if isinstance(src, Tensor) else np.asarray(src)
        try:
            np.broadcast_shapes(np.shape(s), self._data.shape)
        except ValueError as exc:
            raise RuntimeError(f"Tensor.copy_: cannot copy shape {tuple(np.shape(s))} into "
                               f"shape {tuple(self._data.shape)}") from exc
        if self._record(src):
            def outofplace(p):
                v = src if isinstance(src, Tensor) else Tensor._wrap(s)
                if v._data.dtype != p._data.dtype:
                    v = v.to(p._data.dtype)
                return _basic.where(np.ones(self._data.shape, bool), v, p)
            return self._inplace_op("copy_", (src,), outofplace)
        try:
            np.copyto(self._data, s, casting="unsafe")
        except ValueError as exc:
            raise RuntimeError(f"Tensor.copy_: cannot copy shape {tuple(np.shape(s))} into "
                               f"shape {tuple(self._data.shape)}") from exc
        return self._wrote()

    def add_(self, other, alpha=1):
        if self._record(other):
            return self._inplace_op("add_", (other,), lambda p: _basic.add(p, other, alpha=alpha))
        o = other._data if isinstance(other, Tensor) else other
        if alpha != 1:
            o = o * alpha
        np.add(self._data, o, out=self._data, casting="unsafe")
        return self._wrote()

    def sub_(self, other, alpha=1):
        if self._record(other):
            return self._inplace_op("sub_", (other,), lambda p: _basic.sub(p, other, alpha=alpha))
        o = other._data if isinstance(other, Tensor) else other
        if alpha != 1:
            o = o * alpha
        np.subtract(self._data, o, out=self._data, casting="unsafe")
        return self._wrote()

    def mul_(self, other):
        if self._record(other):
            return self._inplace_op("mul_", (other,), lambda p: _basic.mul(p, other))
        np.multiply(self._data, other._data if isinstance(other, Tensor) else other,
                    out=self._data, casting="unsafe")
        return self._wrote()

    def div_(self, other):
        if self._record(other):
            return self._inplace_op("div_", (other,), lambda p: _basic.div(p, other))
        np.divide(self._data, other._data if isinstance(other, Tensor) else other,
                  out=self._data, casting="unsafe")
        return self._wrote()

    def pow_(self, exponent):
        if self._record(exponent):
            return self._inplace_op("pow_", (exponent,), lambda p: _basic.pow(p, exponent))
        np.power(self._data, exponent._data if isinstance(exponent, Tensor) else exponent,
                 out=self._data, casting="unsafe")
        return self._wrote()

    def neg_(self):
        if self._record():
            return self._inplace_op("neg_", (), _basic.neg)
        np.negative(self._data, out=self._data)
        return self._wrote()

    def clamp_(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("Tensor.clamp_: at least one of min and max must be given")
        if self._record():
            return self._inplace_op("clamp_", (), lambda p: _basic.clamp(p, min, max))
        lo = min._data if isinstance(min, Tensor) else min
        hi = max._data if isinstance(max, Tensor) else max
        np.clip(self._data, lo, hi, out=self._data, casting="unsafe")
        return self._wrote()

    clip_ = clamp_

    def masked_fill_(self, mask, value):
        m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
        if self._record():
            return self._inplace_op("masked_fill_", (),
                                    lambda p: _basic.masked_fill(p, m, _scalar(value)))
        np.copyto(self._data, _scalar(value), where=m.astype(bool, copy=False), casting="unsafe")
        return self._wrote()

    def _random_(self, name, sample):
        vals = sample()
        if self._record():
            return self._inplace_op(name, (), lambda p: _basic.where(
                np.ones(self._data.shape, bool), Tensor._wrap(vals.astype(self._data.dtype)), p),)
        self._data[...] = vals
        return self._wrote()

    def uniform_(self, a=0.0, b=1.0):
        from nervo.random import generator
        return self._random_("uniform_", lambda: generator().uniform(a, b, self._data.shape))

    def normal_(self, mean=0.0, std=1.0):
        from nervo.random import generator
        return self._random_("normal_", lambda: generator().normal(mean, std, self._data.shape))

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __ipow__(self, other):
        return self.pow_(other)

    # dtype conversions (differentiable casts live in functional.to)
    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return self.to(np.int64)

    def int(self):
        return self.to(np.int32)

    def bool(self):
        return self.to(np.bool_)

    def cpu(self):
        return self

    def type_as(self, other):
        return self.to(other.dtype)


_ag._Tensor = Tensor


class _RemovableHandle:
    __slots__ = ("_store", "_key")
    _next = [0]

    def __init__(self, store, fn):
        self._store = store
        self._key = _RemovableHandle._next[0]
        _RemovableHandle._next[0] += 1
        store[self._key] = fn

    def remove(self):
        self._store.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _check_can_require_grad(a, call):
    if a.dtype.kind not in "fc":
        raise RuntimeError(f"{call}: only floating-point tensors can require gradients "
                           f"(got dtype {a.dtype})")


def _scalar(v):
    if isinstance(v, Tensor):
        return v.item()
    return v


def _to_array(data, dtype, call) -> np.ndarray:
    """``data`` as a fresh ndarray: Python floats -> default dtype, ints -> int64 (torch's rules);
    NumPy arrays keep their dtype unless ``dtype`` is given."""
    if isinstance(data, Tensor):
        a = data._data
        return a.astype(dtype) if dtype is not None else a.copy()
    if dtype is not None:
        dtype = np.dtype(dtype)
    if isinstance(data, np.ndarray):
        a = np.array(data, dtype=dtype, copy=True)
    else:
        try:
            a = np.array(data, dtype=dtype)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{call}: cannot make a tensor from {type(data).__name__}: {exc}") from exc
        if dtype is None and a.dtype == np.float64 and not _has_np_float64(data):
            a = a.astype(_default["dtype"])
        elif dtype is None and a.dtype.kind in "iu" and a.dtype != np.int64 and not isinstance(
                data, np.generic):
            a = a.astype(np.int64)
    if a.dtype == object or a.dtype.kind in "USV":
        raise TypeError(f"{call}: cannot make a tensor of dtype {a.dtype} (from "
                        f"{type(data).__name__})")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _has_np_float64(data):
    return isinstance(data, np.floating) and np.asarray(data).dtype == np.float64


# --------------------------------------------------------------------- factories
def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new Tensor holding a copy of ``data`` (torch.tensor).

    Python floats become float32 (the default dtype), Python ints int64; NumPy arrays keep their
    dtype unless ``dtype`` is given.

    Example:
        >>> import nervo
        >>> nervo.tensor([1.0, 2.0]).dtype
        dtype('float32')
    """
    _check_device(device, "nervo.tensor")
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like :func:`tensor` but shares memory with a NumPy array (or Tensor) when it can."""
    _check_device(device, "nervo.as_tensor")
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == np.dtype(dtype) else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == np.dtype(dtype)):
        return from_numpy(data)
    return Tensor(data, dtype=dtype)


def from_numpy(a: np.ndarray) -> Tensor:
    """A Tensor sharing memory with ``a`` (no copy; writes show in both)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"nervo.from_numpy: expected a numpy.ndarray, got {type(a).__name__}")
    if a.dtype == object or a.dtype.kind in "USVcM m":
        raise TypeError(f"nervo.from_numpy: unsupported dtype {a.dtype}")
    if not a.dtype.isnative:
        raise TypeError(f"nervo.from_numpy: non-native byte order {a.dtype} is not supported "
                        "(use a.astype(a.dtype.newbyteorder('=')))")
    return Tensor._wrap(a)


def from_dlpack(ext) -> Tensor:
    """A Tensor sharing memory with any object exporting ``__dlpack__`` (torch, jax, numpy)."""
    return Tensor._wrap(np.from_dlpack(ext))


def _check_device(device, call):
    if device is not None and str(device) != "cpu":
        raise ValueError(f"{call}: only device='cpu' is supported, got {device!r}")


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def _dt(dtype):
    return _default["dtype"] if dtype is None else np.dtype(dtype)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return Tensor._wrap(np.zeros(_shape(size), _dt(dtype))).requires_grad_(requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return Tensor._wrap(np.ones(_shape(size), _dt(dtype))).requires_grad_(requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return Tensor._wrap(np.empty(_shape(size), _dt(dtype))).requires_grad_(requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, bool):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = np.int64
    return Tensor._wrap(np.full(_shape((size,)), fill_value, _dt(dtype))).requires_grad_(
        requires_grad)


def _like(fn, t, dtype, requires_grad, *args):
    a = t._data if isinstance(t, Tensor) else np.asarray(t)
    return Tensor._wrap(fn(a.shape, *args, dtype=a.dtype if dtype is None else dtype)) \
        .requires_grad_(requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return _like(np.zeros, t, dtype, requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return _like(np.ones, t, dtype, requires_grad)


def empty_like(t, dtype=None, requires_grad=False):
    return _like(np.empty, t, dtype, requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    a = t._data if isinstance(t, Tensor) else np.asarray(t)
    return Tensor._wrap(np.full(a.shape, fill_value, a.dtype if dtype is None else dtype)) \
        .requires_grad_(requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    from nervo.random import generator
    dt = _dt(dtype)
    return Tensor._wrap(generator().random(_shape(size), dtype=dt.type)).requires_grad_(
        requires_grad)


def randn(*size, dtype=None, requires_grad=False):
    from nervo.random import generator
    dt = _dt(dtype)
    return Tensor._wrap(generator().standard_normal(_shape(size), dtype=dt.type)).requires_grad_(
        requires_grad)


def randint(low, high=None, size=(), dtype=None):
    from nervo.random import generator
    if high is None:
        low, high = 0, low
    return Tensor._wrap(generator().integers(low, high, _shape((size,)),
                                             dtype=np.int64 if dtype is None else dtype))


def randperm(n, dtype=None):
    from nervo.random import generator
    return Tensor._wrap(generator().permutation(n).astype(np.int64 if dtype is None else dtype))


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else _default["dtype"]
    return Tensor._wrap(np.arange(start, end, step, dtype=dtype)).requires_grad_(requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False):
    return Tensor._wrap(np.linspace(start, end, steps, dtype=_dt(dtype))).requires_grad_(
        requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    return Tensor._wrap(np.eye(n, m, dtype=_dt(dtype))).requires_grad_(requires_grad)


# The operators and math methods are bound by nervo.functional (imported here so that
# `import nervo.tensor` alone yields a complete Tensor).
from nervo.functional import basic as _basic  # noqa: E402

_basic._bind_tensor_methods(Tensor)
