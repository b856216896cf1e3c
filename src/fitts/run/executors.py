"""Executors: where the chunks of a job are computed. One interface, three places.

- :class:`InlineExecutor`: in this process, one chunk after another;
- :class:`LocalExecutor`: a pool of worker processes on this machine (spawned, so it is
  safe on every platform), one numba thread per process;
- :class:`DaskExecutor`: an existing Dask cluster (``address="tcp://HOST:PORT"``) or a
  ``LocalCluster`` it starts; a lost worker's tasks are recomputed by Dask.

Each executor is a context manager whose :meth:`~AbstractExecutor.imap` computes
``fn(item)`` for every item and yields ``(index, result)`` as results arrive, in any
order; the job assembles them in patient-id order, so results never depend on the
executor.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fitts.errors import FittsError


def limit_threads(threads: int | None) -> None:
    """Cap numba's threads in this process (no oversubscription with many processes)."""
    if threads is None:
        return
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _call_limited(fn: Callable[[Any], Any], item: Any, threads: int | None) -> Any:
    limit_threads(threads)
    return fn(item)


class AbstractExecutor(ABC):
    """Computes items of a job; a context manager that owns its workers."""

    #: number of chunks computed at once
    workers: int = 1

    def __enter__(self) -> AbstractExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the workers."""

    @abstractmethod
    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index into items, fn(item))`` as each result arrives."""

    def describe(self) -> str:
        return type(self).__name__


class InlineExecutor(AbstractExecutor):
    """In this process, in order (numba uses its default threads unless `threads` is given)."""

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if self.threads is None:
            for i, item in enumerate(items):
                yield i, fn(item)
            return
        import numba

        before = numba.get_num_threads()
        try:
            for i, item in enumerate(items):
                yield i, _call_limited(fn, item, self.threads)
        finally:
            numba.set_num_threads(before)

    def describe(self) -> str:
        return "in-process"


class LocalExecutor(AbstractExecutor):
    """A pool of `workers` spawned processes, each with `threads` numba threads (default 1)."""

    def __init__(self, workers: int | None = None, threads: int = 1):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.threads = threads
        self._pool: cf.ProcessPoolExecutor | None = None

    def _get(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
        return self._pool

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        pool = self._get()
        futures = {pool.submit(_call_limited, fn, item, self.threads): i for i, item in enumerate(items)}
        try:
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def describe(self) -> str:
        return f"local ({self.workers} process{'es' if self.workers > 1 else ''})"


class DaskExecutor(AbstractExecutor):
    """Chunks as tasks on a Dask cluster.

    Parameters
    ----------
    address
        Scheduler address (``tcp://HOST:PORT``) of an existing cluster; None starts a
        ``LocalCluster`` of `workers` processes with one thread each.
    client
        An existing ``distributed.Client`` to use instead (not closed on exit).
    """

    def __init__(self, address: str | None = None, *, workers: int | None = None, threads: int = 1,
                 client: Any = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - the scale extra is missing
            raise FittsError("the Dask executor needs `pip install fitts[scale]`") from exc
        self.threads = threads
        self._cluster = None
        self._own = client is None
        if client is not None:
            self.client = client
        elif address is not None:
            try:
                self.client = Client(address, timeout="20s")
            except OSError as exc:
                from fitts.errors import DataError

                raise DataError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        else:
            n = max(1, int(workers or os.cpu_count() or 1))
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            self.client = Client(self._cluster)
            self.client.wait_for_workers(n, timeout=120)
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})) or int(workers or 1))

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        futures = [self.client.submit(_call_limited, fn, item, self.threads, pure=False) for item in items]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                yield index[fut.key], fut.result()
        finally:
            for fut in futures:
                fut.release()

    def close(self) -> None:
        if self._own:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self) -> str:
        return f"dask ({self.workers} worker{'s' if self.workers > 1 else ''})"


def make_executor(*, workers: int | None = None, scheduler: str | None = None, dask_local: bool = False,
                  ) -> AbstractExecutor:
    """The executor the command line asks for: Dask at `scheduler`, a Dask LocalCluster,
    an in-process run (``workers == 1``) or a local process pool."""
    if scheduler:
        return DaskExecutor(scheduler, workers=workers)
    if dask_local:
        return DaskExecutor(workers=workers)
    if workers == 1:
        return InlineExecutor()
    return LocalExecutor(workers)
