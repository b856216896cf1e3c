"""Compiled kernels cached on disk, keyed by a hash of their generated source.

A model's kernel is a generated Python module (its rate function inside the one kernel
template, :func:`fitts.sim.backends.codegen.numba_kernel_module`). numba can cache
machine code only for functions defined in a real file, so the module is written to
the cache folder and imported from there; numba's own cache (``cache=True``) then keeps
the machine code next to it, in the entry's ``__pycache__``. A second process running
the same model loads that code instead of compiling (about a second instead of a
minute).

Layout: ``<cache>/kernels/<key>/kernel.py`` (+ ``__pycache__``, ``compiled.json``), where
`<cache>` is ``$FITTS_CACHE_DIR`` or the platform's user cache folder for `fitts`
(``platformdirs.user_cache_dir("fitts")``, e.g. ``~/.cache/fitts`` on Linux) and `<key>`
is the SHA-256 of the source together with the numba, llvmlite, NumPy and Python
versions, the CPU (name and features) and the source of the runtime modules the kernel
calls (:data:`RUNTIME_MODULES`). A change to any of them gives a new entry; old entries
are never used again and can be deleted with the folder at any time.

Safety:

- an entry is published atomically: written to a temporary folder beside it, then
  renamed into place (a rename either happens whole or not at all);
- concurrent processes: publishing and compiling one key take an exclusive lock on a
  lock file beside the entry (``fcntl.flock``, released by the system if a process
  dies), so the second of two workers that start together waits for the first and
  loads its result; numba writes its own cache files atomically;
- an entry whose ``kernel.py`` is not the expected source (corrupt, partial, edited) is
  moved aside and written again; if numba cannot read its cache files (a corrupt index
  or data file), they are deleted and the kernel is compiled again. Nothing from a bad
  entry is ever run.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

ENV_VAR = "FITTS_CACHE_DIR"
#: modules whose compiled code a kernel contains (their source is part of the key)
RUNTIME_MODULES = ("fitts.sim.fastmath", "fitts.sim.rng_numba", "fitts.sim.rng")
#: shown when this machine has not recorded a compile time yet, seconds
DEFAULT_COMPILE_SECONDS = 30.0
_SOURCE = "kernel.py"
_DONE = "compiled.json"


def cache_root() -> Path:
    """The cache folder: ``$FITTS_CACHE_DIR`` or the platform's user cache folder for fitts."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("fitts"))


def kernels_dir() -> Path:
    """Where kernel entries live: ``<cache root>/kernels``."""
    return cache_root() / "kernels"


@lru_cache(maxsize=1)
def environment() -> dict[str, str]:
    """Everything besides the source that compiled code depends on (part of the key)."""
    import llvmlite
    import llvmlite.binding as ll
    import numba
    import numpy as np

    runtime = hashlib.sha256()
    for name in RUNTIME_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:  # pragma: no cover - broken install
            raise ImportError(f"fitts runtime module {name} not found; reinstall fitts")
        runtime.update(Path(spec.origin).read_bytes())
    return {
        "numba": numba.__version__, "llvmlite": llvmlite.__version__, "numpy": np.__version__,
        "python": sys.version, "implementation": sys.implementation.name,
        "machine": platform.machine(), "cpu": ll.get_host_cpu_name(),
        "cpu_features": ll.get_host_cpu_features().flatten(),
        "numba_cpu": f"{numba.config.CPU_NAME}|{numba.config.CPU_FEATURES}",
        "runtime": runtime.hexdigest(),
    }


def kernel_key(source: str) -> str:
    """SHA-256 (hex) of the kernel module source and :func:`environment`."""
    blob = json.dumps({"source": source, **environment()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Kernel:
    """A kernel module imported from its cache entry.

    Attributes
    ----------
    key
        The entry's key (:func:`kernel_key`).
    directory
        The entry's folder.
    module
        The imported module (``rhs``, ``kernel``).
    compiled
        Whether ``kernel`` has machine code for the argument types used in this process.
    cache_hit
        After compiling: True when the machine code came from the disk cache, False when
        it was compiled here; None before.
    compile_seconds
        Wall time of loading or compiling the machine code, seconds.
    """

    key: str
    directory: Path
    source: str
    module: ModuleType
    compiled: bool = False
    cache_hit: bool | None = None
    compile_seconds: float | None = None
    _signature: tuple = field(default=(), repr=False)

    @property
    def function(self) -> Any:
        """The numba dispatcher ``kernel`` of the module."""
        return self.module.kernel

    def __call__(self, *args: Any) -> None:
        """Run the kernel; the first call loads or compiles its machine code (see :meth:`compile`)."""
        if not self.compiled:
            self.compile(args)
        self.function(*args)

    def compile(self, args: tuple) -> None:
        """Load (cache hit) or compile (miss) machine code for the types of `args`.

        A numba cache file that cannot be read is deleted and the kernel compiled again.
        """
        import numba

        sig = tuple(numba.typeof(a) for a in args)
        with _locked(self.directory):
            t0 = time.perf_counter()
            try:
                self.function.compile(sig)
            except Exception:  # noqa: BLE001 - numba raises anything for an unreadable cache file
                _clear_numba_cache(self.directory)
                self.module = _import(self.key, self.directory)
                t0 = time.perf_counter()
                self.function.compile(sig)
            self.compile_seconds = time.perf_counter() - t0
            self.cache_hit = sum(self.function.stats.cache_hits.values()) > 0
            self.compiled = True
            self._signature = sig
            if not self.cache_hit:
                _write_atomic(self.directory / _DONE, json.dumps(
                    {"compile_seconds": round(self.compile_seconds, 3), "created": time.time()}))


#: kernels imported by this process, by entry folder
_LOADED: dict[str, Kernel] = {}
#: the same kernels by ($FITTS_CACHE_DIR, source), to skip hashing on repeated calls
_BY_SOURCE: dict[tuple[str | None, str], Kernel] = {}


def load_kernel(source: str) -> Kernel:
    """The kernel for a generated module source: from memory, the disk cache, or written anew.

    Parameters
    ----------
    source
        A module from :func:`fitts.sim.backends.codegen.numba_kernel_module`.

    Returns
    -------
    Kernel
        Imported; its machine code is loaded or compiled on the first call.
    """
    # the simulators ask once per integration segment: answer from memory without hashing
    # the source or asking platformdirs for the cache folder again (a second per cohort)
    memo = (os.environ.get(ENV_VAR), source)
    known = _BY_SOURCE.get(memo)
    if known is not None and _LOADED.get(str(known.directory)) is known:
        return known
    key = kernel_key(source)
    directory = kernels_dir() / key[:40]
    if str(directory) in _LOADED:
        _BY_SOURCE[memo] = _LOADED[str(directory)]
        return _LOADED[str(directory)]
    with _locked(directory):
        if not _entry_ok(directory, source):
            if directory.exists():
                _discard(directory)
            _publish(directory, source)
        module = _import(key, directory)
    kernel = Kernel(key=key, directory=directory, source=source, module=module)
    _LOADED[str(directory)] = kernel
    _BY_SOURCE[memo] = kernel
    return kernel


def is_compiled(source: str) -> bool:
    """Whether machine code for this source is in this process or on disk (no compiling needed)."""
    directory = kernels_dir() / kernel_key(source)[:40]
    if str(directory) in _LOADED and _LOADED[str(directory)].compiled:
        return True
    return (directory / _DONE).is_file() and _entry_ok(directory, source) and any(
        (directory / "__pycache__").glob("*.nbi"))


def expected_compile_seconds() -> float:
    """Median compile time recorded in this cache (:data:`DEFAULT_COMPILE_SECONDS` if none)."""
    times = []
    with contextlib.suppress(OSError):
        for done in kernels_dir().glob(f"*/{_DONE}"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                times.append(float(json.loads(done.read_text())["compile_seconds"]))
    return statistics.median(times) if times else DEFAULT_COMPILE_SECONDS


def compile_notice(source: str, what: str = "the model's kernel") -> str | None:
    """The line to show before compiling, or None when the kernel is already compiled."""
    if is_compiled(source):
        return None
    return f"compiling {what} (first run only, ~{expected_compile_seconds():.0f} s)"


# --------------------------------------------------------------------------- internals


def _entry_ok(directory: Path, source: str) -> bool:
    try:
        return (directory / _SOURCE).read_text(encoding="utf-8") == source
    except (OSError, UnicodeDecodeError):
        return False


def _publish(directory: Path, source: str) -> None:
    """Write the entry into a temporary folder beside it and rename it into place."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory.parent))
    try:
        with open(tmp / _SOURCE, "w", encoding="utf-8") as fh:
            fh.write(source)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, directory)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not _entry_ok(directory, source):  # not published by someone else either
            raise


def _discard(directory: Path) -> None:
    """Move a bad entry aside (atomic), then delete it."""
    trash = directory.parent / f".trash-{uuid.uuid4().hex[:12]}"
    with contextlib.suppress(FileNotFoundError):
        os.rename(directory, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _clear_numba_cache(directory: Path) -> None:
    for f in (directory / "__pycache__").glob("*.nb[ic]"):
        with contextlib.suppress(OSError):
            f.unlink()
    with contextlib.suppress(OSError):
        (directory / _DONE).unlink()


def _import(key: str, directory: Path) -> ModuleType:
    """Import ``kernel.py`` of an entry as module ``fitts_kernel_<key>`` (fresh each call)."""
    name = f"fitts_kernel_{key[:40]}"
    spec = importlib.util.spec_from_file_location(name, directory / _SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock per entry, on ``<entry>.lock`` beside it (a no-op without fcntl)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: atomic renames still keep entries whole
        yield
        return
    with open(directory.with_name(directory.name + ".lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
