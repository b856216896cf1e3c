"""Jobs in chunks of patient ids: plan, compute on an executor, checkpoint, resume, assemble.

A job is a picklable callable ``job((start, stop)) -> {name: array}`` computing the
candidates with ids ``start .. stop-1`` (a pure function of the job's settings and the
ids), plus a few attributes (see :class:`Job`). Chunk ``i`` always holds ids
``[i * chunk_size, (i + 1) * chunk_size)``; a screening job (one that keeps only some
candidates, e.g. ACR cases) is run in waves over the next chunks until enough patients
are kept, and the first ``patients`` kept (in id order) are the result. Every patient's
values depend only on its id, so the result is bit-identical for any executor, chunk
size or number of workers.

Checkpoints: each finished chunk is written atomically to ``DIR/chunk-START-STOP.npz``
beside ``DIR/manifest.json`` (the job's fingerprint and the chunk size). Running again
on the same directory with ``resume=True`` reuses the finished chunks; a directory from
different settings is refused with a clear error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fitts.errors import DataError, ModelError
from fitts.io.results import atomic_path, save_json

from .executors import AbstractExecutor, InlineExecutor

MANIFEST = "manifest.json"
CHECKPOINT_FORMAT = "fitts-checkpoint/1"


class Job(Protocol):
    """What :func:`run_job` needs of a job.

    Attributes
    ----------
    name
        Shown in messages and stored in the manifest.
    patients
        Patients (rows) wanted.
    screens
        True when a chunk may keep fewer patients than it has ids.
    max_screened
        Candidates screened at most before giving up (screening jobs).
    """

    name: str
    patients: int
    screens: bool
    max_screened: int

    def fingerprint(self) -> dict[str, Any]:
        """Everything a chunk's result depends on (JSON-able)."""
        ...

    def __call__(self, chunk: tuple[int, int]) -> dict[str, np.ndarray]:
        """Compute the candidates ``chunk[0] .. chunk[1]-1``; ``patient`` holds the kept ids."""
        ...


def chunk_path(directory: Path, chunk: tuple[int, int]) -> Path:
    return directory / f"chunk-{chunk[0]:012d}-{chunk[1]:012d}.npz"


def save_chunk(directory: Path, chunk: tuple[int, int], data: dict[str, np.ndarray]) -> Path:
    """Write one chunk's arrays atomically (npz, uncompressed)."""
    path = chunk_path(directory, chunk)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **data)
    return path


def load_chunk(directory: Path, chunk: tuple[int, int]) -> dict[str, np.ndarray]:
    with np.load(chunk_path(directory, chunk)) as z:
        return {k: z[k] for k in z.files}


def _kept(directory: Path, chunk: tuple[int, int]) -> int:
    with np.load(chunk_path(directory, chunk)) as z:
        return len(z["patient"])


@dataclass
class JobRun:
    """A finished job: its chunks on disk and how they were obtained.

    Attributes
    ----------
    chunks
        The chunks the result uses, in id order.
    keep
        Patients kept from each chunk (the last one may be cut to reach `patients`).
    screened
        Candidates screened to obtain the patients (ids 0 .. screened-1).
    computed, reused
        Chunks computed in this call, and finished chunks taken from the checkpoint.
    """

    directory: Path
    chunks: list[tuple[int, int]]
    keep: list[int]
    screened: int
    computed: list[tuple[int, int]] = field(default_factory=list)
    reused: list[tuple[int, int]] = field(default_factory=list)

    @property
    def patients(self) -> int:
        return int(sum(self.keep))

    @property
    def acceptance_rate(self) -> float:
        return self.patients / self.screened if self.screened else float("nan")

    def iter_chunks(self) -> Iterator[tuple[dict[str, np.ndarray], int]]:
        """``(arrays, keep)`` per chunk in id order; use the first `keep` rows."""
        for chunk, keep in zip(self.chunks, self.keep, strict=True):
            yield load_chunk(self.directory, chunk), keep


def _manifest(job: Job, chunk_size: int) -> dict[str, Any]:
    return json.loads(json.dumps({"format": CHECKPOINT_FORMAT, "job": job.name, "chunk_size": int(chunk_size),
                                  "fingerprint": job.fingerprint()}, default=str))


def _open_checkpoint(directory: Path, job: Job, chunk_size: int, resume: bool) -> None:
    manifest = _manifest(job, chunk_size)
    path = directory / MANIFEST
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable checkpoint manifest ({exc})") from None
        if not resume:
            raise DataError(
                f"{directory} already holds a checkpoint of a {old.get('job', '?')} run; pass --resume "
                "(resume=True) to continue it, or choose an empty directory")
        if old != manifest:
            diff = _differences(old, manifest)
            raise DataError(f"cannot resume from {directory}: the checkpoint is of a different run "
                            f"({'; '.join(diff[:4])}); choose another directory or rerun with the same settings")
        return
    directory.mkdir(parents=True, exist_ok=True)
    save_json(manifest, path, indent=1, sort_keys=True)


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: checkpoint {old!r}, now {new!r}"]


def run_job(job: Job, directory: str | Path, *, executor: AbstractExecutor | None = None, chunk_size: int = 2048,
            resume: bool = False, progress: Callable[[int, int], None] | None = None,
            on_chunk: Callable[[tuple[int, int]], None] | None = None) -> JobRun:
    """Compute a job in chunks on `executor`, checkpointing every chunk in `directory`.

    Parameters
    ----------
    chunk_size
        Candidate ids per chunk (results do not depend on it).
    resume
        Reuse the finished chunks of a checkpoint in `directory` (same job settings).
    progress
        Called with (candidates done, candidates planned so far) after every chunk.
    on_chunk
        Called with each chunk's id range once it is saved (an exception raised here
        stops the run; the chunks saved so far stay in the checkpoint).
    """
    if chunk_size < 1:
        raise ModelError(f"chunk size must be >= 1, got {chunk_size}")
    directory = Path(directory)
    _open_checkpoint(directory, job, chunk_size, resume)
    executor = executor or InlineExecutor()
    kept: dict[tuple[int, int], int] = {}
    computed: list[tuple[int, int]] = []
    reused: list[tuple[int, int]] = []
    next_start, accepted = 0, 0
    # candidates whose run-in failed are replaced by the next ids, up to the screening limit,
    # also when every candidate is recruited (`all`)
    limit = getattr(job, "max_screened", None) or job.patients
    while accepted < job.patients:
        if next_start >= limit:
            from fitts.population.recruit import describe_failures, not_enough

            saved = [load_chunk(directory, c) for c in sorted(kept)]
            saved = [d for d in saved if "failed" in d]
            fp, fd, fs = (np.concatenate([d[k] for d in saved]) if saved else np.empty(0)
                          for k in ("failed", "fail_day", "fail_state"))
            raise not_enough(accepted, job.patients, next_start, getattr(job, "rule", "patients"),
                             describe_failures(fp, fd, fs), len(fp))
        remaining = job.patients - accepted
        if not job.screens:
            want = remaining
        elif next_start == 0:
            want = max(remaining, chunk_size * executor.workers)
        elif accepted == 0:
            want = next_start
        else:
            want = math.ceil(remaining / (accepted / next_start) * 1.2)
        n_chunks = math.ceil(want / chunk_size)
        if job.screens:
            n_chunks = max(n_chunks, executor.workers)
        wave = []
        end = limit if job.screens else min(limit, next_start + want)  # keep every candidate: ids as needed
        for _ in range(n_chunks):
            if next_start >= end:
                break
            stop = min(next_start + chunk_size, end)
            wave.append((next_start, stop))
            next_start = stop
        todo = []
        for c in wave:
            if resume and chunk_path(directory, c).exists():
                kept[c] = _kept(directory, c)
                reused.append(c)
            else:
                todo.append(c)
        done_ids = sum(c[1] - c[0] for c in kept)
        if progress is not None:
            progress(done_ids, next_start)
        for i, data in executor.imap(job, todo):
            c = todo[i]
            save_chunk(directory, c, data)
            kept[c] = len(data["patient"])
            computed.append(c)
            done_ids += c[1] - c[0]
            if progress is not None:
                progress(done_ids, next_start)
            if on_chunk is not None:
                on_chunk(c)
        accepted = sum(kept.values())
    chunks, keep, total = [], [], 0
    for c in sorted(kept):
        if total >= job.patients:
            break
        k = min(kept[c], job.patients - total)
        chunks.append(c)
        keep.append(k)
        total += k
    last = load_chunk(directory, chunks[-1])["patient"][: keep[-1]]
    # candidates up to the last one kept (a failed candidate before it was screened and replaced)
    screened = int(last[-1]) + 1 if len(last) else chunks[-1][1]
    return JobRun(directory, chunks, keep, screened, computed, [c for c in reused if c in chunks])
