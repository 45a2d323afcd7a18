"""Model and checkpoint files: safetensors, written atomically, read with full validation.

File layout (https://github.com/huggingface/safetensors): 8-byte little-endian header length N,
N bytes of JSON ``{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}``,
then the tensor bytes. Files nervo writes load in ``safetensors.numpy`` / ``safetensors.torch``
and the other way round. No pickle anywhere: nested checkpoints (optimizer state, epoch, RNG
state) keep their non-array parts as JSON in the metadata entry ``nervo.tree``.

- ``save(obj, path)``: a Module (its ``state_dict``), a flat ``{name: array}`` state dict, or a
  nested checkpoint of dicts/lists/numbers/strings/arrays.
- ``load(path)``: what was saved (arrays as NumPy arrays); ``load_metadata(path)`` reads only the
  header.
- ``save_file`` / ``load_file``: the flat layer underneath.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

# safetensors dtype tag <-> NumPy dtype (little-endian). BF16 has no NumPy type: it is widened
# to float32 on load (exactly: bf16 is the top half of an f32).
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
           "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_TAGS = {np.dtype(v).newbyteorder("<") if np.dtype(v).itemsize > 1 else np.dtype(v): k
         for k, v in _DTYPES.items()}
_ITEMSIZE = {**{k: np.dtype(v).itemsize for k, v in _DTYPES.items()}, "BF16": 2}
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit

TREE_KEY = "nervo.tree"


class CheckpointError(ValueError):
    """A model/checkpoint file is corrupt or not a safetensors file (the message says why)."""


def _as_array(name, value) -> np.ndarray:
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.detach().numpy() if hasattr(value, "detach") else value.numpy()
    elif hasattr(value, "data") and isinstance(getattr(value, "data"), np.ndarray):
        value = value.data
    arr = np.asarray(value)
    if arr.dtype.newbyteorder("<") not in _TAGS and arr.dtype not in _TAGS:
        raise TypeError(f"nervo.save: {name!r} has dtype {arr.dtype}, which safetensors cannot store")
    return arr


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write) -> None:
    """Call ``write(fileobj)`` on a temp file next to ``path``, fsync, then rename it over ``path``.

    A process killed at any point leaves either the old file or the new one, never a mix.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"nervo.save: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def save_file(tensors: dict, path, metadata: dict | None = None) -> None:
    """Write ``{name: array}`` to ``path`` as safetensors (atomically).

    Args:
        tensors: names (str) to array-likes of a storable dtype.
        metadata: ``{str: str}`` stored in the header.
    Raises:
        TypeError: non-str names or metadata, or an unstorable dtype (object, complex, ...).
    """
    header, blobs, offset = {}, [], 0
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"nervo.save: metadata must be str -> str, got {k!r}: {type(v).__name__}")
        header["__metadata__"] = dict(metadata)
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"nervo.save: tensor names must be str, got {name!r}")
        if name == "__metadata__":
            raise ValueError("nervo.save: '__metadata__' is reserved")
        arr = _as_array(name, value)
        le = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
        data = np.ascontiguousarray(arr, dtype=le).tobytes()
        header[name] = {"dtype": _TAGS[le], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # data starts 8-byte aligned, as safetensors writes it

    def write(f):
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)

    atomic_write(path, write)


def _read_header(f, path, size):
    if size < 8:
        raise CheckpointError(f"nervo.load: {path} is too short ({size} bytes) to be a safetensors file")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > size - 8 or n > _MAX_HEADER:
        raise CheckpointError(f"nervo.load: {path} claims a {n}-byte header but the file has "
                              f"{size - 8} bytes after the length field (truncated or not safetensors)")
    raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"nervo.load: {path} has an unreadable header ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"nervo.load: {path} header is not a JSON object")
    return header, 8 + n


def _validate(header, path, data_size):
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"nervo.load: {path} __metadata__ must map str -> str")
    spans = []
    for name, e in header.items():
        if (not isinstance(e, dict) or not isinstance(e.get("dtype"), str)
                or not isinstance(e.get("shape"), list) or not isinstance(e.get("data_offsets"), list)):
            raise CheckpointError(f"nervo.load: {path} entry {name!r} needs dtype, shape and data_offsets")
        if e["dtype"] not in _ITEMSIZE:
            raise CheckpointError(f"nervo.load: {path} entry {name!r} has unknown dtype {e['dtype']!r}")
        shape, offs = e["shape"], e["data_offsets"]
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise CheckpointError(f"nervo.load: {path} entry {name!r} has a bad shape {shape}")
        if (len(offs) != 2 or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
                or not 0 <= offs[0] <= offs[1]):
            raise CheckpointError(f"nervo.load: {path} entry {name!r} has bad data_offsets {offs}")
        nbytes = _ITEMSIZE[e["dtype"]]
        for d in shape:  # Python ints: no overflow, checked before anything is allocated
            nbytes *= d
        if nbytes != offs[1] - offs[0]:
            raise CheckpointError(f"nervo.load: {path} entry {name!r}: shape {shape} x {e['dtype']} "
                                  f"needs {nbytes} bytes but its offsets span {offs[1] - offs[0]}")
        spans.append((offs[0], offs[1], name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            kind = "overlaps the previous entry" if begin < pos else "leaves a gap before it"
            raise CheckpointError(f"nervo.load: {path} entry {name!r} {kind} (offset {begin}, expected {pos})")
        pos = end
    if pos != data_size:
        what = "is truncated" if pos > data_size else "has trailing bytes"
        raise CheckpointError(f"nervo.load: {path} {what}: tensors need {pos} data bytes, "
                              f"the file holds {data_size}")
    return meta


def load_metadata(path) -> dict:
    """The ``__metadata__`` of a safetensors file (reads only the header)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nervo.load: no file at {path}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        header, start = _read_header(f, path, size)
    return _validate(header, path, size - start)


def load_file(path):
    """Read a safetensors file: returns ``(tensors, metadata)``, tensors as NumPy arrays.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: truncated file, lying header length, overlapping or gapped offsets,
            shape/size mismatch, unknown dtype or trailing bytes.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nervo.load: no file at {path}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        header, start = _read_header(f, path, size)
        meta = _validate(header, path, size - start)
        data = f.read()
    if len(data) != size - start:
        raise CheckpointError(f"nervo.load: {path} changed while being read")
    out = {}
    # Keep the file's order of names (JSON object order) so state dicts round-trip in order.
    for name, e in header.items():
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            bits = np.frombuffer(data, dtype="<u2", count=(end - b) // 2, offset=b).astype(np.uint32)
            arr = (bits << 16).view(np.float32)
        else:
            dt = np.dtype(_DTYPES[e["dtype"]])
            arr = np.frombuffer(data, dtype=dt, count=(end - b) // dt.itemsize, offset=b).copy()
            arr = arr.astype(dt.newbyteorder("="), copy=False)
        out[name] = arr.reshape(e["shape"])
    return out, meta


# --- nested checkpoints -------------------------------------------------------------------------

def _is_array(v) -> bool:
    return isinstance(v, np.ndarray) or (hasattr(v, "numpy") and hasattr(v, "shape"))


def _flatten(obj, prefix, tensors):
    """JSON-able tree of ``obj`` with arrays moved to ``tensors`` under dotted path names."""
    if _is_array(obj):
        key = prefix or "_"
        tensors[key] = _as_array(key, obj)
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": {k: _flatten(v, f"{prefix}.{k}" if prefix else k, tensors)
                                 for k, v in obj.items()}}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (int, np.integer, str)) or isinstance(k, bool):
                raise TypeError(f"nervo.save: dict key {k!r} at {prefix or 'top level'} must be str or int")
            k = int(k) if isinstance(k, (int, np.integer)) else k
            items.append([k, _flatten(v, f"{prefix}.{k}" if prefix else str(k), tensors)])
        return {"__items__": items}
    if isinstance(obj, (list, tuple)):
        body = [_flatten(v, f"{prefix}.{i}" if prefix else str(i), tensors) for i, v in enumerate(obj)]
        return {"__tuple__": body} if isinstance(obj, tuple) else body
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"nervo.save: cannot store {type(obj).__name__} at {prefix or 'top level'} "
                    f"(only arrays, dicts, lists, tuples, numbers, strings and None)")


def _unflatten(node, tensors, path):
    if isinstance(node, list):
        return [_unflatten(v, tensors, path) for v in node]
    if isinstance(node, dict):
        if "__tensor__" in node:
            key = node["__tensor__"]
            if key not in tensors:
                raise CheckpointError(f"nervo.load: {path} tree refers to missing tensor {key!r}")
            return tensors[key]
        if "__dict__" in node:
            return {k: _unflatten(v, tensors, path) for k, v in node["__dict__"].items()}
        if "__items__" in node:
            return {k: _unflatten(v, tensors, path) for k, v in node["__items__"]}
        if "__tuple__" in node:
            return tuple(_unflatten(v, tensors, path) for v in node["__tuple__"])
        raise CheckpointError(f"nervo.load: {path} has an unreadable {TREE_KEY} entry")
    return node


def _describe(obj) -> str:
    return repr(obj)


def save(obj, path, *, metadata: dict | None = None) -> None:
    """Save a model, a state dict or a nested checkpoint to ``path`` (safetensors, atomic).

    Args:
        obj: a Module (its ``state_dict()`` is saved, with ``repr(model)`` as ``nervo.arch``), a
            flat ``{name: array or Tensor}`` (names kept as is: PyTorch can read the file), or a
            nested structure of dicts/lists/tuples/numbers/strings/None/arrays.
        metadata: extra ``{str: str}`` stored in the header (read back by ``load_metadata``).
    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save({"w": np.ones(2, np.float32)}, p); load(p)["w"].tolist()
        [1.0, 1.0]
    """
    from nervo._version import __version__
    meta = {"format": "nervo", "nervo_version": __version__}
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        meta["nervo.arch"] = _describe(obj)
        obj = obj.state_dict()
    if metadata:
        meta.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj) and all(_is_array(v) for v in obj.values()):
        save_file(dict(obj), path, meta)
        return
    tensors: dict = {}
    tree = _flatten(obj, "", tensors)
    meta[TREE_KEY] = json.dumps(tree, separators=(",", ":"))
    save_file(tensors, path, meta)


def load(path, *, with_metadata: bool = False):
    """Load what ``save`` wrote (or any safetensors file): arrays come back as NumPy arrays.

    Returns:
        the flat ``{name: array}`` dict or the nested checkpoint; with ``with_metadata=True``,
        ``(obj, metadata)``.
    Raises:
        FileNotFoundError, CheckpointError (see ``load_file``).
    """
    tensors, meta = load_file(path)
    if TREE_KEY in meta:
        try:
            tree = json.loads(meta[TREE_KEY])
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"nervo.load: {path} has a corrupt {TREE_KEY} ({exc})") from None
        obj = _unflatten(tree, tensors, path)
    else:
        obj = tensors
    return (obj, meta) if with_metadata else obj
