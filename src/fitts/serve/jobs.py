"""Background jobs of the workbench: a bounded pool, progress, cancel, errors kept.

A job is a function ``work(progress, folder)`` that reports its progress as a fraction
(0-1) through `progress`, writes its files into its own folder under ``jobs/<id>/`` and
returns a short summary. `progress` raises :class:`JobCancelled` once the job was
cancelled, so a job stops at its next progress report. At most `max_running` jobs run at
once; at most `max_queued` wait. A job that raises is marked failed with its message;
the server keeps running.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fitts.errors import FittsError

Progress = Callable[[float], None]
Work = Callable[[Progress, Path], dict[str, Any]]


class JobCancelled(Exception):
    """Raised inside a job's progress callback after the job was cancelled."""


class TooManyJobs(FittsError):
    """The queue is full: the browser is told to wait (HTTP 429)."""

    exit_code = 2


@dataclass
class Job:
    """One background job and what the browser sees of it."""

    id: str
    kind: str
    title: str
    folder: Path
    state: str = "queued"  # queued, running, done, failed, cancelled
    fraction: float = 0.0
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    @property
    def percent(self) -> int:
        return int(round(100 * self.fraction))

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return round((self.finished or time.time()) - self.started, 1)

    def files(self) -> list[str]:
        """Names of the files the job wrote (the CLI's files), for download."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_file() and not p.name.startswith("."))


class JobManager:
    """Run jobs in a bounded thread pool; remember them for the browser.

    Parameters
    ----------
    root
        Folder under which each job gets ``<id>/``.
    max_running, max_queued
        Jobs running at once, and jobs allowed to wait beyond those.
    """

    def __init__(self, root: Path, *, max_running: int = 1, max_queued: int = 4):
        self.root = Path(root)
        self.max_running = max_running
        self.max_queued = max_queued
        self._pool = ThreadPoolExecutor(max_workers=max_running, thread_name_prefix="fitts-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def submit(self, kind: str, title: str, work: Work) -> Job:
        """Queue a job; TooManyJobs when `max_running + max_queued` are already active."""
        with self._lock:
            active = sum(j.active for j in self._jobs.values())
            if active >= self.max_running + self.max_queued:
                raise TooManyJobs(f"{active} jobs are running or waiting; wait for one to finish or cancel one")
            jid = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._ids)}"
            job = Job(jid, kind, title, self.root / jid)
            self._jobs[jid] = job
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Work) -> None:
        if job.cancel_event.is_set():
            job.state, job.finished = "cancelled", time.time()
            return
        job.state, job.started = "running", time.time()

        def progress(fraction: float) -> None:
            if job.cancel_event.is_set():
                raise JobCancelled(job.id)
            job.fraction = min(max(float(fraction), job.fraction), 1.0)

        try:
            job.folder.mkdir(parents=True, exist_ok=True)
            job.summary = work(progress, job.folder) or {}
            job.state, job.fraction = "done", 1.0
        except JobCancelled:
            job.state = "cancelled"
        except FittsError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a crashed job is shown, the server keeps running
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            job.state, job.error = "failed", f"unexpected {type(exc).__name__}: {first}"
            job.summary = {"traceback": traceback.format_exc(limit=8)}
        finally:
            job.finished = time.time()

    def cancel(self, jid: str) -> Job:
        """Ask a job to stop (at its next progress report); a queued job never starts."""
        job = self.get(jid)
        if job.active:
            job.cancel_event.set()
            if job.state == "queued":
                job.state, job.finished = "cancelled", time.time()
        return job

    def get(self, jid: str) -> Job:
        with self._lock:
            job = self._jobs.get(jid)
        if job is None:
            raise KeyError(jid)
        return job

    def list(self) -> list[Job]:
        """All jobs, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def wait(self, jid: str, timeout: float = 60.0) -> Job:
        """Block until a job is no longer active (for tests and scripts)."""
        end = time.time() + timeout
        job = self.get(jid)
        while job.active and time.time() < end:
            time.sleep(0.05)
        return job

    def shutdown(self) -> None:
        """Cancel every active job and stop the pool."""
        for job in self.list():
            if job.active:
                job.cancel_event.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
