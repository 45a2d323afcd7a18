"""Backend selection, the kernel registry, threads, ISA forcing and nervo.info()."""
import os
import subprocess
import sys

import pytest

import nervo
from nervo import backend as B


def _run(code, **env):
    full = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full)


def test_info_fields():
    info = nervo.info()
    for key in ("version", "backend", "isa", "isa_available", "threads", "openmp", "cuda", "compiler"):
        assert key in info
    assert info["version"] == nervo.__version__
    assert info["backend"] in ("native", "numba")
    assert info["cuda"] is False
    if info["backend"] == "native":
        assert info["isa"] == info["isa_available"][-1] or os.environ.get("NERVO_ISA")
        assert "generic" in info["isa_available"]
        assert info["openmp"] and info["compiler"]


@pytest.mark.skipif("native" not in B.available_backends(), reason="native backend not built")
def test_native_is_default_and_picks_best_isa():
    r = _run("import nervo, json; print(json.dumps(nervo.info()))", NERVO_BACKEND="", NERVO_ISA="")
    assert r.returncode == 0, r.stderr
    import json
    info = json.loads(r.stdout)
    assert info["backend"] == "native"
    assert info["isa"] == info["isa_available"][-1]


def test_both_backends_register_the_same_kernels():
    if set(B.available_backends()) != {"native", "numba"}:
        pytest.skip("needs both backends")
    assert sorted(B.native_kernels()) == sorted(B.numba_kernels())


@pytest.mark.skipif("native" not in B.available_backends(), reason="native backend not built")
def test_isa_forcing():
    for isa in B.native_module().isa_available():
        r = _run("import nervo; print(nervo.info()['isa'])", NERVO_ISA=isa)
        assert r.returncode == 0 and r.stdout.strip() == isa, r.stderr
    missing = [i for i in ("avx2", "avx512") if i not in B.native_module().isa_available()]
    for isa in missing:
        r = _run("import nervo", NERVO_ISA=isa)
        assert r.returncode != 0 and "not supported on this machine" in r.stderr
    r = _run("import nervo", NERVO_ISA="sse9")
    assert r.returncode != 0 and "unknown ISA level" in r.stderr


def test_forced_backend_env():
    r = _run("import nervo; print(nervo.info()['backend'])", NERVO_BACKEND="numba")
    assert r.returncode == 0 and r.stdout.strip() == "numba", r.stderr
    r = _run("import nervo", NERVO_BACKEND="cuda")
    assert r.returncode != 0 and "NERVO_BACKEND" in r.stderr


def test_set_backend_errors():
    with pytest.raises(ValueError, match="unknown backend"):
        nervo.set_backend("tpu")


def test_threads_roundtrip():
    prev = nervo.get_num_threads()
    try:
        nervo.set_num_threads(1)
        assert nervo.get_num_threads() == 1
        if "native" in B.available_backends():
            assert B.native_module().get_num_threads() == 1
    finally:
        nervo.set_num_threads(prev)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError):
            nervo.set_num_threads(bad)


def test_omp_num_threads_respected():
    r = _run("import nervo; print(nervo.get_num_threads())", OMP_NUM_THREADS="1")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr


def test_no_backend_errors_name_the_extra():
    # Hide both the extension and numba: import works, the first kernel call says what to install.
    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def fake(name, *a, **k):\n"
        "    if name == 'numba' or name.startswith('numba.') or name == 'nervo._C':\n"
        "        raise ImportError('hidden for the test: ' + name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = fake\n"
        "import importlib\n"
        "orig = importlib.import_module\n"
        "importlib.import_module = lambda n, *a: fake(n) if n == 'nervo._C' else orig(n, *a)\n"
        "import numpy as np, nervo\n"
        "print('backend', nervo.info()['backend'])\n"
        "try:\n"
        "    nervo.ops.relu(np.zeros(3, np.float32))\n"
        "except ImportError as e:\n"
        "    print('ERR', e)\n")
    r = _run(code, NERVO_BACKEND="")
    assert r.returncode == 0, r.stderr
    assert "backend None" in r.stdout
    assert 'pip install "nervo[numba]"' in r.stdout


def test_forcing_missing_native_says_why():
    code = ("import importlib\n"
            "orig = importlib.import_module\n"
            "def fake(n, *a):\n"
            "    if n == 'nervo._C': raise ImportError('hidden for the test')\n"
            "    return orig(n, *a)\n"
            "importlib.import_module = fake\n"
            "import nervo\n")
    r = _run(code, NERVO_BACKEND="native")
    assert r.returncode != 0
    assert "native backend is not available" in r.stderr and "hidden for the test" in r.stderr


def test_cli_info():
    r = subprocess.run([sys.executable, "-m", "nervo.cli", "info"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "backend" in r.stdout and "isa" in r.stdout


FORK_CODE = """
import os, sys, time
import numpy as np, nervo
x = np.random.default_rng(0).standard_normal(1_000_000).astype(np.float32)
want = nervo.ops.gelu(x)              # thread pools are warm now
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    try:
        ok = np.array_equal(nervo.ops.gelu(x), want)
        msg = b"ok" if ok else b"wrong"
    except RuntimeError as e:
        msg = b"error: " + str(e).encode()
    os.write(w, msg)
    os._exit(0)
deadline = time.time() + 60
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    print("HUNG")
    sys.exit(0)
os.close(w)
print(os.read(r, 4096).decode())
"""


@pytest.mark.parametrize("name", ["native", "numba"])
def test_fork_after_warmup_works_or_raises_clearly(name):
    if name not in B.available_backends():
        pytest.skip(f"{name} backend not available")
    r = _run(FORK_CODE, NERVO_BACKEND=name)
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip()
    assert out == "ok" or ("error:" in out and "spawn" in out), out


@pytest.mark.parametrize("env,want", [({}, {"GOMP_SPINCOUNT": "10000"}),
                                      ({"OMP_WAIT_POLICY": "active"}, {"OMP_WAIT_POLICY": "active"}),
                                      ({"GOMP_SPINCOUNT": "1000"}, {"GOMP_SPINCOUNT": "1000"})])
def test_openmp_wait_default_respects_the_user(env, want):
    """nervo shortens OpenMP's spin-wait (spinning threads steal busy cores) unless the user chose."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = "import nervo; nervo.backend.native_module(); print(nervo.info()['omp_wait'])"
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == str(want)
