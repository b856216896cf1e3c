"""Benchmark: virtual cohorts at scale, in patient-years per second, as ratios.

The job is the one ``fitts population`` runs: patients of the built-in `fitts` theory,
parameters from the priors (with a copula and a prevalence), living under the default
protocol's everyday stressors (including per-patient random life events) at dt = 0.05
day, reduced to per-patient summaries (final states and sampled parameters) chunk by
chunk. Every executor keeps one numba thread per worker process. Workers are warmed up
(numba compiles each model once per process) before anything is timed.

Reports
-------
- throughput against N (1e3, 1e4, 1e5 patients for one year) with 1 worker process:
  ratio to the 1e3 run (target: flat within 20 %);
- 2 worker processes against 1 at 1e5 patients (target: >= 1.7x);
- Dask LocalCluster (2 workers) against the local process pool (2 workers) at 1e5
  (target: overhead < 15 %);
- 1e6 patients for 30 days on 2 workers: throughput and the peak resident memory of the
  whole process tree (main process + workers), sampled every 0.2 s (target: < 4 GiB).

Small N are timed as the best of 3 runs; CPU seconds of the whole process tree are reported
beside wall time, so that a machine busy with other work shows as fewer CPU seconds per
wall second rather than as executor overhead.

Usage: python bench/bench_scale.py [--quick] [--dt 0.05] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import psutil

from fitts.population.recruit import Recruitment, everyday_schedule
from fitts.population.sample import PopulationSpec
from fitts.run.executors import DaskExecutor, LocalExecutor
from fitts.run.population import run_population

THEORY = "fitts"
POP = PopulationSpec({"early_adversity": 0.15}, (("threat_bias", "pain_sensitivity", 0.3),))
DAYS_PER_YEAR = 365.25


class PeakRSS:
    """Peak resident memory of this process and all its children, sampled in a thread."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total())


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and all its children so far."""
    procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


#: CPU seconds of the process tree used by the last :func:`timed` call
LAST_CPU = [0.0]


def timed(executor, patients: int, days: float, dt: float, chunk: int, progress: bool = False,
          repeat: int = 1) -> tuple[float, float]:
    """(patient-years per second, wall seconds) of a population job: the best of `repeat` runs."""
    best = (0.0, float("inf"))
    for _ in range(repeat):
        cpu0 = _cpu_seconds()
        rate, wall = _timed_once(executor, patients, days, dt, chunk, progress)
        if wall < best[1]:
            best = (rate, wall)
            LAST_CPU[0] = _cpu_seconds() - cpu0
    return best


def _timed_once(executor, patients: int, days: float, dt: float, chunk: int, progress: bool) -> tuple[float, float]:
    rec = Recruitment("all", days, dt, 7.0, tuple(everyday_schedule()))
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress()
        bar.start()
        task = bar.add_task(f"{patients:,} patients x {days:g} days", total=patients)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_population(THEORY, patients, seed=1, population=POP, recruitment=rec, executor=executor,
                             chunk_size=chunk, checkpoint=Path(tmp) / "ckpt",
                             progress=(lambda done, planned: bar.update(task, completed=done)) if bar else None)
        wall = time.perf_counter() - t0
    if bar is not None:
        bar.stop()
    assert len(res.table) == patients
    return patients * days / DAYS_PER_YEAR / wall, wall


def warm(executor, dt: float) -> None:
    """Compile the model's kernels in every worker (several small chunks at once)."""
    timed(executor, 8 * executor.workers, 7.0, dt, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10x fewer patients everywhere (a smoke test)")
    ap.add_argument("--dt", type=float, default=0.05)
    ap.add_argument("--chunk", type=int, default=2048, help="patients per chunk")
    ap.add_argument("--skip-million", action="store_true")
    ap.add_argument("--write", type=Path, default=None, help="append a results section here")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    ns = [1_000 // scale, 10_000 // scale, 100_000 // scale]
    big = 1_000_000 // scale
    rows: list[tuple[str, int, float, int, float, float, float]] = []
    load0 = os.getloadavg()[0]

    with LocalExecutor(workers=1) as one:
        warm(one, args.dt)
        for n in ns:
            rate, wall = timed(one, n, 365.0, args.dt, args.chunk, repeat=3 if n <= ns[1] else 1)
            rows.append(("local, 1 worker process", n, 365.0, 1, rate, wall, LAST_CPU[0]))
            print(rows[-1], flush=True)
    with LocalExecutor(workers=2) as two:
        warm(two, args.dt)
        rate2, wall2 = timed(two, ns[-1], 365.0, args.dt, args.chunk)
        rows.append(("local, 2 worker processes", ns[-1], 365.0, 2, rate2, wall2, LAST_CPU[0]))
        print(rows[-1], flush=True)
        if not args.skip_million:
            with PeakRSS() as mem:
                rate_m, wall_m = timed(two, big, 30.0, args.dt, 8192, progress=True)
            rows.append(("local, 2 worker processes", big, 30.0, 2, rate_m, wall_m, LAST_CPU[0]))
            print(rows[-1], f"peak RSS {mem.peak / 2**30:.2f} GiB", flush=True)
    with DaskExecutor(workers=2) as dask:
        warm(dask, args.dt)
        rate_d, wall_d = timed(dask, ns[-1], 365.0, args.dt, args.chunk)
        rows.append(("Dask LocalCluster, 2 workers", ns[-1], 365.0, 2, rate_d, wall_d, LAST_CPU[0]))
        print(rows[-1], flush=True)

    base = rows[0][4]
    flat = [r[4] / base for r in rows[:3]]
    speedup = rate2 / rows[2][4]
    cpu_eff = (rows[3][1] * rows[3][2] / rows[3][6]) / (rows[2][1] * rows[2][2] / rows[2][6])
    overhead = wall_d / wall2 - 1.0
    lines = [f"## bench_scale ({time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores"
             f"{', --quick' if args.quick else ''})", "",
             f"Theory `{THEORY}` ({args.dt:g}-day steps, everyday stressors with per-patient life events), "
             f"per-patient summaries only, {args.chunk} patients per chunk, one numba thread per worker process, "
             "workers warmed up before timing.", "",
             "| executor | patients | days | workers | patient-years/s | wall s | CPU s | patient-years per CPU s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r[0]} | {r[1]:,} | {r[2]:g} | {r[3]} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.1f} | "
              f"{r[1] * r[2] / DAYS_PER_YEAR / r[6]:.1f} |" for r in rows]
    lines += ["", f"- throughput against N (1 worker), relative to {ns[0]:,} patients: "
              + ", ".join(f"{n:,}: **{f:.2f}**" for n, f in zip(ns, flat, strict=True))
              + " (target: within 0.80-1.20)",
              f"- 2 workers / 1 worker at {ns[-1]:,} patients: **{speedup:.2f}x** (target >= 1.7x); work per CPU "
              f"second, 2 workers / 1 worker: {cpu_eff:.2f} (1.0 = no parallel overhead: the wall-clock speed-up "
              "is then bounded only by the idle cores the machine has)",
              f"- Dask LocalCluster overhead against the local pool at {ns[-1]:,} patients: **{overhead:+.1%}** "
              "(target < 15 %)"]
    if not args.skip_million:
        lines.append(f"- {big:,} patients x 30 days on 2 workers: {rate_m:.1f} patient-years/s, peak resident "
                     f"memory of the process tree **{mem.peak / 2**30:.2f} GiB** (target < 4 GiB)")
    lines.append(f"- machine load (1-minute load average) at start / end: {load0:.1f} / {os.getloadavg()[0]:.1f} "
                 f"on {os.cpu_count()} cores (other jobs running on the machine slow the multi-worker runs most)")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write is not None:
        with open(args.write, "a") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
