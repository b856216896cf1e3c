"""Kernels cached on disk: reused by a second process, rebuilt when corrupt, where FITTS_CACHE_DIR says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fitts import compile_model, load_model_text
from fitts.sim import kernel_cache
from fitts.sim.backends.codegen import numba_kernel_module
from tests.helpers import TWO_NODE

# one process: load (or compile) the kernel of the model file in argv[1], report as JSON
_SCRIPT = """
import json, sys
from fitts import compile_model, load_model
from fitts.sim.backends.numba_backend import NumbaBackend
import fitts

be = NumbaBackend(compile_model(load_model(sys.argv[1])))
notice = be.compile_notice()
k = be.warm()
ds = fitts.simulate(be.model, patients=3, days=1.0, seed=2)
print(json.dumps({"hit": k.cache_hit, "notice": notice, "dir": str(k.directory),
                  "pain": ds.trajectory.values[:, -1, 0].tolist()}))
"""


def _run(model: Path, cache: Path) -> dict:
    env = {**os.environ, kernel_cache.ENV_VAR: str(cache)}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(model)], env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("model") / "two.yaml"
    p.write_text(TWO_NODE)
    return p


def test_cache_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel_cache.ENV_VAR, str(tmp_path / "c"))
    assert kernel_cache.kernels_dir() == tmp_path / "c" / "kernels"
    source = numba_kernel_module(compile_model(load_model_text(TWO_NODE)))
    k = kernel_cache.load_kernel(source)
    assert k.directory.parent == tmp_path / "c" / "kernels"
    assert (k.directory / "kernel.py").read_text() == source
    assert len(k.directory.name) == 40 and k.key.startswith(k.directory.name)


def test_cache_dir_default_is_the_platform_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv(kernel_cache.ENV_VAR, raising=False)
    assert kernel_cache.cache_root() == Path(platformdirs.user_cache_dir("fitts"))


def test_key_depends_on_source_and_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    a = kernel_cache.kernel_key("x = 1\n")
    assert a != kernel_cache.kernel_key("x = 2\n")
    env = dict(kernel_cache.environment())
    monkeypatch.setattr(kernel_cache, "environment", lambda: {**env, "numba": "0.0"})
    assert kernel_cache.kernel_key("x = 1\n") != a


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_corrupt_source_entry_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         damage: str) -> None:
    monkeypatch.setenv(kernel_cache.ENV_VAR, str(tmp_path))
    source = numba_kernel_module(compile_model(load_model_text(TWO_NODE)))
    entry = kernel_cache.kernels_dir() / kernel_cache.kernel_key(source)[:40]
    entry.mkdir(parents=True)
    if damage == "garbage":
        (entry / "kernel.py").write_bytes(b"\xff\xfe raise SystemExit('must never run')")
    elif damage == "truncated":
        (entry / "kernel.py").write_text(source[: len(source) // 2])
    monkeypatch.setattr(kernel_cache, "_LOADED", {})
    k = kernel_cache.load_kernel(source)
    assert (k.directory / "kernel.py").read_text() == source
    assert hasattr(k.module, "kernel") and hasattr(k.module, "rhs")
    assert not [p for p in entry.parent.iterdir() if p.name.startswith((".tmp-", ".trash-"))]


@pytest.mark.slow
def test_concurrent_processes_compile_once_and_a_later_one_hits(model_file: Path, tmp_path: Path) -> None:
    """Two processes start together on an empty cache: one compiles, the other waits and
    loads its result; a third process loads from the cache too (numba's cache-hit flag)."""
    with ThreadPoolExecutor(2) as pool:
        first = list(pool.map(lambda _: _run(model_file, tmp_path), range(2)))
    assert sorted(r["hit"] for r in first) == [False, True]
    third = _run(model_file, tmp_path)
    assert third["hit"] is True and third["notice"] is None
    assert any(r["notice"] and "first run only" in r["notice"] for r in first)
    assert first[0]["pain"] == first[1]["pain"] == third["pain"]
    assert Path(third["dir"]).parent == tmp_path / "kernels"


@pytest.mark.slow
def test_corrupt_numba_cache_file_is_rebuilt(model_file: Path, tmp_path: Path) -> None:
    first = _run(model_file, tmp_path)
    index = next((Path(first["dir"]) / "__pycache__").glob("*.nbi"))
    index.write_bytes(b"not a pickle")
    again = _run(model_file, tmp_path)
    assert again["hit"] is False and again["pain"] == first["pain"]
    assert _run(model_file, tmp_path)["hit"] is True


@pytest.mark.slow
def test_cli_says_when_it_compiles(model_file: Path, tmp_path: Path) -> None:
    """`fitts simulate` names the compile before its progress bar, on the first run only."""
    env = {**os.environ, kernel_cache.ENV_VAR: str(tmp_path / "cache"), "PYTHONWARNINGS": "ignore"}
    args = [sys.executable, "-m", "fitts.cli", "simulate", str(model_file), "--patients", "2",
            "--days", "1", "--out", str(tmp_path / "r.nc")]
    cold = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert cold.returncode == 0, cold.stderr
    assert "compiling the kernel of two (first run only, ~" in cold.stderr
    warm = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert warm.returncode == 0, warm.stderr
    assert "compiling" not in warm.stderr


def test_numpy_backend_compiles_nothing(model_file: Path, tmp_path: Path) -> None:
    """A NumPy-backend run loads no kernel and no compiled generator code."""
    code = ("import sys, fitts; fitts.simulate(sys.argv[1], patients=3, days=1.0, backend='numpy'); "
            "from fitts.sim import kernel_cache; "
            "print(sorted(m for m in ('fitts.sim.rng_numba', 'fitts.sim.fastmath') if m in sys.modules), "
            "len(kernel_cache._LOADED))")
    env = {**os.environ, kernel_cache.ENV_VAR: str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code, str(model_file)], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] 0"
    assert not (tmp_path / "kernels").exists()
