"""nervo.save / nervo.load: safetensors round trips, interop, corrupt files, atomic writes."""
import json
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from nervo import io

DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]


def _raw(header: dict, data: bytes, pad=True) -> bytes:
    h = json.dumps(header).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_dtypes_and_shapes(tmp_path, dtype):
    rng = np.random.default_rng(0)
    d = {"scalar": np.array(3, dtype=dtype), "empty": np.zeros((0, 4), dtype=dtype),
         "m": (rng.random((3, 5)) * 10).astype(dtype), "strided": (rng.random((6, 4)) * 10).astype(dtype)[::2, ::-1]}
    p = tmp_path / "x.safetensors"
    io.save(d, p)
    back = io.load(p)
    assert list(back) == list(d)
    for k in d:
        assert back[k].dtype == np.dtype(dtype) and back[k].shape == d[k].shape
        np.testing.assert_array_equal(back[k], d[k])


def test_big_endian_input_is_stored_little_endian(tmp_path):
    a = np.arange(4, dtype=">f4")
    io.save({"a": a}, tmp_path / "b.safetensors")
    back = io.load(tmp_path / "b.safetensors")["a"]
    assert back.dtype == np.float32 and back.tolist() == [0, 1, 2, 3]


def test_unstorable_inputs(tmp_path):
    with pytest.raises(TypeError, match="dtype"):
        io.save({"a": np.array([1j])}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="cannot store"):
        io.save({"a": {1, 2}}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="str -> str"):
        io.save_file({"a": np.ones(1)}, tmp_path / "c.safetensors", metadata={"k": 1})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.save({"a": np.ones(1)}, tmp_path / "nope" / "c.safetensors")
    assert not (tmp_path / "c.safetensors").exists()


def test_nested_checkpoint_round_trip(tmp_path):
    rng_state = np.random.default_rng(7).bit_generator.state
    ck = {"epoch": 4, "model": {"fc.weight": np.ones((2, 3), np.float32)},
          "optimizer": {"state": {0: {"step": 3, "exp_avg": np.zeros(3)}},
                        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]},
          "rng": rng_state, "best": float("inf"), "note": None, "flags": [True, 2.5, "s"]}
    io.save(ck, tmp_path / "ck.safetensors", metadata={"run": "test"})
    back, meta = io.load(tmp_path / "ck.safetensors", with_metadata=True)
    assert meta["run"] == "test" and meta["format"] == "nervo" and "nervo_version" in meta
    assert back["epoch"] == 4 and back["best"] == float("inf") and back["note"] is None
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["optimizer"]["state"][0]["step"] == 3
    assert back["rng"] == rng_state
    g = np.random.default_rng()
    g.bit_generator.state = back["rng"]
    assert g.random() == np.random.default_rng(7).random()
    np.testing.assert_array_equal(back["model"]["fc.weight"], ck["model"]["fc.weight"])
    assert back["flags"] == [True, 2.5, "s"]


def test_interop_with_safetensors_library(tmp_path):
    st_np = pytest.importorskip("safetensors.numpy")
    d = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "i": np.arange(3, dtype=np.int64)}
    io.save(d, tmp_path / "ours.safetensors")
    theirs = st_np.load_file(str(tmp_path / "ours.safetensors"))
    for k in d:
        np.testing.assert_array_equal(theirs[k], d[k])
    st_np.save_file(d, str(tmp_path / "theirs.safetensors"), metadata={"a": "b"})
    back, meta = io.load(tmp_path / "theirs.safetensors", with_metadata=True)
    assert meta == {"a": "b"}
    for k in d:
        np.testing.assert_array_equal(back[k], d[k])


def test_reads_torch_bf16(tmp_path):
    torch = pytest.importorskip("torch")
    st_t = pytest.importorskip("safetensors.torch")
    t = torch.randn(4, 5)
    st_t.save_file({"w": t.bfloat16()}, str(tmp_path / "t.safetensors"))
    back = io.load(tmp_path / "t.safetensors")["w"]
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, t.bfloat16().float().numpy())


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}}

CORRUPT = {
    "empty": b"",
    "short": b"\x01\x02",
    "lying_length": struct.pack("<Q", 1 << 40) + b"{}",
    "length_past_end": struct.pack("<Q", 100) + b"{}      ",
    "not_json": _raw({}, b"")[:8] + b"not json",
    "not_object": _raw([1, 2], b""),
    "truncated_data": _raw(GOOD, b"\0" * 10),
    "trailing_bytes": _raw(GOOD, b"\0" * 14),
    "overlap": _raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                     "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
    "gap": _raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                 "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, b"\0" * 12),
    "overflowing_shape": _raw({"a": {"dtype": "F32", "shape": [2 ** 62, 2 ** 62], "data_offsets": [0, 8]}}, b"\0" * 8),
    "negative_dim": _raw({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
    "unknown_dtype": _raw({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, b"\0" * 16),
    "shape_size_mismatch": _raw({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
    "bad_offsets": _raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8),
    "missing_fields": _raw({"a": {"dtype": "F32"}}, b""),
    "bad_metadata": _raw({"__metadata__": {"k": 1}}, b""),
    "bad_tree": _raw({"__metadata__": {"nervo.tree": "{not json"}}, b""),
    "tree_missing_tensor": _raw({"__metadata__": {"nervo.tree": '{"__tensor__": "zz"}'}}, b""),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_files_raise_one_clear_error(tmp_path, name):
    p = tmp_path / f"{name}.safetensors"
    p.write_bytes(CORRUPT[name])
    with pytest.raises(io.CheckpointError, match=str(p).replace(".", r"\.")):
        io.load(p)


def test_good_handmade_file_loads(tmp_path):
    p = tmp_path / "good.safetensors"
    p.write_bytes(_raw(GOOD, np.array([1, 2], "<f4").tobytes() + bytes([1, 2, 3, 4])))
    d = io.load(p)
    assert d["a"].tolist() == [1.0, 2.0] and d["b"].tolist() == [1, 2, 3, 4]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        io.load(tmp_path / "missing.safetensors")


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "m.safetensors"
    io.save({"w": np.ones(3)}, p)

    class Boom(Exception):
        pass

    real_fsync = os.fsync

    def failing_fsync(fd):
        real_fsync(fd)
        raise Boom()

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(Boom):
        io.save({"w": np.zeros(3)}, p)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert io.load(p)["w"].tolist() == [1, 1, 1]
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # no temp file left behind


@pytest.mark.slow
def test_killed_save_leaves_a_loadable_file(tmp_path):
    p = tmp_path / "k.safetensors"
    io.save({"w": np.zeros(10)}, p)
    code = ("import numpy as np, sys; from nervo import io\n"
            "big = np.ones(4_000_000, np.float32)\n"
            "i = 0\n"
            "while True:\n"
            "    i += 1; io.save({'w': big * i}, sys.argv[1])\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for delay in (0.3, 0.7, 1.1):
        proc = subprocess.Popen([sys.executable, "-c", code, str(p)], env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        w = io.load(p)["w"]
        assert np.all(w == w.flat[0])  # one complete version, never a mix
