"""The pure-Python install: without a C++ compiler, `pip install .` still succeeds and nervo runs
on the numba kernels; with NERVO_REQUIRE_NATIVE=1 the same failed build is an install error.

These tests really install the project into fresh virtual environments (about a minute each).
The new venvs see the running environment's packages (numpy, numba) through a .pth file, so
nothing is downloaded but the build requirements.
"""
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _make_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(path)
    py = path / "bin" / "python"
    purelib = subprocess.check_output(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip()
    parent = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if os.path.isdir(p)]
    Path(purelib, "_parent_env.pth").write_text("\n".join(dict.fromkeys(parent)) + "\n")
    return py


def _install(py: Path, src: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-cache-dir", str(src)],
                          capture_output=True, text=True, env=env, timeout=900)


def _no_compiler_env(require_native: str) -> dict:
    env = dict(os.environ)
    env.update(CC="/nonexistent/cc", CXX="/nonexistent/c++", NERVO_REQUIRE_NATIVE=require_native,
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    """A copy of the project sources (without build outputs) to install from."""
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("needs the source tree")
    dst = tmp_path_factory.mktemp("src") / "nervo"
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(
        "build", ".venv", ".ci-venv", "*.so", "__pycache__", ".git", ".pytest_cache", ".benchmarks"))
    return dst


def test_install_without_compiler_runs_on_numba(src, tmp_path):
    pytest.importorskip("numba")
    py = _make_venv(tmp_path / "venv")
    r = _install(py, src, _no_compiler_env("0"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    code = ("import numpy as np, nervo\n"
            "info = nervo.info()\n"
            "assert info['backend'] == 'numba', info\n"
            "assert info['isa'] is None and 'No module named' in info['native_error'], info\n"
            "y = nervo.ops.gelu(np.linspace(-3, 3, 7, dtype=np.float32))\n"
            "assert abs(float(y[-1]) - 2.99595) < 1e-4, y\n"
            "print('ok', nervo.ops.relu(np.array([-1.0, 2.0], np.float32)))\n")
    env = _no_compiler_env("0")
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ok [0. 2.]" in r.stdout


def test_require_native_makes_a_failed_build_an_error(src, tmp_path):
    py = _make_venv(tmp_path / "venv")
    r = _install(py, src, _no_compiler_env("1"))
    assert r.returncode != 0
    assert "no C++ compiler found" in r.stdout + r.stderr
