"""Benchmark: simulator throughput in patient-years per second, as ratios to baselines.

Model: the 16-node example model (`models/examples/mobile16.yaml`), noise on every
node, one year at dt = 0.01 day, daily recording, a daily stress pattern common to all
patients (one extra row adds per-patient random life events). Baselines measured in the
same run:

- a `scipy.integrate.solve_ivp` (LSODA, deterministic) loop over patients in Python,
  timed on a few patients and scaled (its cost is linear in patients);
- the NumPy reference backend (Euler–Maruyama), on fewer patients than the fast path.

Also reports the counter-based generator's normals per second, peak memory with
per-patient summaries for 30 versus 365 days (it must not grow with days), the CPU
model and load, and compile times: the model's kernel compiled in a fresh process with
an empty kernel cache (cold) and loaded by a second process from that cache (warm), and
the end-to-end wall time of ``fitts simulate fitts --patients 50 --days 365`` cold and
warm (the median of five warm runs; with ``--evaluate`` also ``fitts evaluate fitts
--patients 1000``, once warm). Every
throughput row also gives patient-years per CPU second of this process (all threads),
which a busy machine disturbs less than wall time.

Usage: python bench/bench_simulate.py [--patients 10000] [--numpy-patients 1000]
       [--ivp-patients 3] [--days 365] [--evaluate] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from numba import get_num_threads, njit, prange

import fitts
from fitts.sim.backends.numpy_backend import NumpyBackend
from fitts.sim.rng import stream_keys
from fitts.sim.rng_numba import normal
from fitts.spec.load import models_dir

MODEL = models_dir() / "examples" / "mobile16.yaml"
SCHEDULE = [
    {"input": "psychosocial_stress", "kind": "daily", "values": [0.1, 0.3, 0.5, 0.2]},
]
#: per-patient random life events: inputs then differ between patients (extra cost)
EVENTS = [
    {"input": "psychosocial_stress", "kind": "events", "rate_per_year": 2, "duration": 30,
     "magnitude": {"dist": "uniform", "low": 0.5, "high": 1.5}},
]


CPU_SECONDS: dict[float, float] = {}  # wall -> CPU seconds of the throughput runs


def with_daily_event(start: float) -> fitts.CompiledModel:
    """mobile16 plus a daily model event that updates a parameter (re-derived each day):
    `start` on the step grid costs only the event; off it, each day also splits a step."""
    text = f"""
name: mobile16_daily_event
includes: [{{path: {MODEL.name}}}]
parameters: {{days_seen: {{value: 0.0}}}}
events: {{daily: {{every: 1.0, start: {start!r}, set: {{days_seen: "days_seen + 1"}}}}}}
"""
    return fitts.compile_model(fitts.load_model_text(text, base=MODEL.parent))


def throughput(model, patients: int, days: float, backend: str, events: bool = False,
               **kw) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fitts.simulate(model, patients=patients, days=days, backend=backend, seed=1,
                   schedule=SCHEDULE + (EVENTS if events else []), **kw)
    wall = time.perf_counter() - t0
    CPU_SECONDS[wall] = time.process_time() - c0
    return patients * days / 365.0 / wall, wall


def cpu_model() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_COMPILE = """
import json, sys, time
t0 = time.perf_counter()
from fitts import compile_model, load_model
from fitts.sim.backends.numba_backend import NumbaBackend
k = NumbaBackend(compile_model(load_model(sys.argv[1]))).warm()
print(json.dumps({"seconds": k.compile_seconds, "hit": k.cache_hit, "process": time.perf_counter() - t0}))
"""


def compile_times(model: str, cache: Path) -> list[dict]:
    """Compile the kernel of `model` in a new process on an empty cache, then load it in another."""
    env = {**os.environ, "FITTS_CACHE_DIR": str(cache)}
    out = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", _COMPILE, model], env=env, capture_output=True,
                           text=True, check=True)
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cli_times(args: list[str], cache: Path, folder: Path, warm_runs: int = 1) -> list[float]:
    """`fitts ARGS` run as new processes on one kernel cache: once cold, then `warm_runs` times warm.

    Returns wall seconds cold, wall seconds warm, CPU seconds cold, CPU seconds warm; the
    warm figures are the run with the median wall time (a new process varies by a few
    tenths of a second from run to run).
    """
    env = {**os.environ, "FITTS_CACHE_DIR": str(cache)}
    runs = []
    for _ in range(1 + warm_runs):
        t0, c0 = time.perf_counter(), _children_cpu()
        subprocess.run([sys.executable, "-m", "fitts.cli", *args], env=env, cwd=folder,
                       capture_output=True, text=True, check=True)
        runs.append((time.perf_counter() - t0, _children_cpu() - c0))
    warm = sorted(runs[1:])[len(runs[1:]) // 2]
    return [runs[0][0], warm[0], runs[0][1], warm[1]]


def ivp_throughput(model, patients: int, days: float, smooth: bool = False) -> tuple[float, float]:
    """Plain per-patient loop over scipy's LSODA on the model's generated NumPy rhs.

    Deterministic. By default the input follows the same daily stress pattern as the
    other runs (piecewise constant, 4 switches a day); with `smooth` it is replaced by its
    daily mean, the easy case for an adaptive solver. Timed on `patients` and scaled.
    """
    from scipy.integrate import solve_ivp

    be = NumpyBackend(model)
    P = fitts.sample_parameters(model, patients, seed=1)
    U = model.input_defaults[:, None].copy()
    j = model.input_index["psychosocial_stress"]
    pattern = np.asarray(SCHEDULE[0]["values"], dtype=float)
    U[j, 0] = float(pattern.mean())
    x0 = np.stack([P[model.param_index[f"initial.{s}"]] for s in model.states])
    t0 = time.perf_counter()
    for i in range(patients):
        Pi = P[:, i:i + 1]
        def f(t: float, y: np.ndarray, Pi: np.ndarray = Pi) -> np.ndarray:
            if not smooth:
                U[j, 0] = pattern[int((t % 1.0) * len(pattern)) % len(pattern)]
            return be.rhs(y[:, None], Pi, U, t)[:, 0]

        sol = solve_ivp(f, (0.0, days),
                        x0[:, i], method="LSODA", t_eval=np.arange(0.0, days + 1e-9, 1.0),
                        rtol=1e-6, atol=1e-9)
        assert sol.success
    wall = time.perf_counter() - t0
    return patients * days / 365.0 / wall, wall


@njit(parallel=True)
def _normals(keys: np.ndarray, n: int, out: np.ndarray) -> None:
    for p in prange(keys.shape[0]):
        acc = 0.0
        for k in range(n):
            acc += normal(np.uint64(k), keys[p])
        out[p] = acc


def generator_rate(n_patients: int = 20_000, n: int = 10_000) -> float:
    keys = stream_keys(0, np.arange(n_patients), "noise")
    out = np.zeros(n_patients)
    _normals(keys[:10], 10, out[:10])
    t0 = time.perf_counter()
    _normals(keys, n, out)
    return n_patients * n / (time.perf_counter() - t0)


def peak_summary_memory(model, patients: int, days: float) -> float:
    tracemalloc.start()
    fitts.simulate(model, patients=patients, days=days, record="summary", seed=1,
                   schedule=SCHEDULE, chunk_size=patients)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--numpy-patients", type=int, default=1_000)
    ap.add_argument("--ivp-patients", type=int, default=3)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--evaluate", action="store_true",
                    help="also time `fitts evaluate fitts --patients 1000` cold and warm")
    ap.add_argument("--write", type=Path, default=None, help="append a results section here")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    cpu = cpu_model()
    print(f"CPU {cpu}, {os.cpu_count()} cores, load average {load0:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        cold, warm = compile_times(str(MODEL), Path(tmp) / "cache")
    print(f"kernel compile: cold {cold['seconds']:.1f} s (cache hit {cold['hit']}), warm "
          f"{warm['seconds']:.2f} s (cache hit {warm['hit']})")
    e2e = []
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["simulate", "fitts", "--patients", "50", "--days", "365", "--out", "r.nc"]
        e2e.append(("fitts simulate fitts --patients 50 --days 365",
                    *cli_times(cmd, Path(tmp) / "c", Path(tmp), warm_runs=5)))
        if args.evaluate:
            cmd = ["evaluate", "fitts", "--patients", "1000", "--out", "sc"]
            e2e.append(("fitts evaluate fitts --patients 1000", *cli_times(cmd, Path(tmp) / "c2", Path(tmp))))
    for name, c, w, cc, cw in e2e:
        print(f"{name}: cold {c:.1f} s ({cc:.1f} CPU s), warm {w:.2f} s ({cw:.1f} CPU s)")

    model = fitts.compile_model(fitts.load_model(MODEL))
    n_edges = len(model.spec.edges)
    n_state_edges = sum(e.from_ in model.spec.nodes for e in model.spec.edges.values())
    print(f"model {model.spec.name}: {model.n_states} nodes, {n_edges} edges "
          f"({n_state_edges} between nodes), noise on {len(model.noise_states)} nodes")

    # warm-up: compile the numba kernels outside the timed runs
    fitts.simulate(model, patients=8, days=1.0, schedule=SCHEDULE + EVENTS)
    fitts.simulate(with_daily_event(1.0), patients=8, days=1.0)  # the same kernel: no compile
    rows = []
    ivp, ivp_wall = ivp_throughput(model, args.ivp_patients, args.days)
    rows.append(("solve_ivp LSODA loop, same daily input (deterministic)", args.ivp_patients, ivp,
                 ivp_wall))
    print(f"solve_ivp loop: {ivp:8.2f} patient-years/s ({args.ivp_patients} patients, scaled)")
    ivp_s, ivp_s_wall = ivp_throughput(model, args.ivp_patients, args.days, smooth=True)
    rows.append(("solve_ivp LSODA loop, smooth mean input (easy case)", args.ivp_patients, ivp_s,
                 ivp_s_wall))
    print(f"solve_ivp smooth: {ivp_s:6.2f} patient-years/s")
    npy, npy_wall = throughput(model, args.numpy_patients, args.days, "numpy")
    rows.append(("numpy backend, Euler-Maruyama", args.numpy_patients, npy, npy_wall))
    print(f"numpy backend : {npy:8.2f} patient-years/s")
    nb, nb_wall = throughput(model, args.patients, args.days, "numba")
    rows.append(("numba backend, Euler-Maruyama", args.patients, nb, nb_wall))
    print(f"numba backend : {nb:8.2f} patient-years/s")
    nb0, nb0_wall = throughput(model, args.patients, args.days, "numba", noise=False)
    rows.append(("numba backend, no noise (ceiling)", args.patients, nb0, nb0_wall))
    print(f"numba no noise: {nb0:8.2f} patient-years/s")
    for label, start in (("on the step grid", 1.0), ("off the grid: a split step a day", 0.505)):
        ev, ev_wall = throughput(with_daily_event(start), args.patients, args.days, "numba")
        rows.append((f"numba backend, Euler-Maruyama, + a daily model event {label}", args.patients, ev,
                     ev_wall))
        print(f"numba + daily model event ({label}): {ev:8.2f} patient-years/s ({ev / nb:.2f} of without)")
    nbe, nbe_wall = throughput(model, args.patients, args.days, "numba", events=True)
    rows.append(("numba backend, Euler-Maruyama, + per-patient life events", args.patients, nbe,
                 nbe_wall))
    print(f"numba + events: {nbe:8.2f} patient-years/s")
    gen = generator_rate()
    print(f"generator     : {gen / 1e6:8.1f} M normals/s")
    m30 = peak_summary_memory(model, 2000, 30.0)
    m365 = peak_summary_memory(model, 2000, 365.0)
    print(f"peak memory, summaries, 2000 patients: 30 d {m30:.1f} MiB, 365 d {m365:.1f} MiB")
    print(f"ratios: numba/numpy {nb / npy:.1f}x, numba/solve_ivp {nb / ivp:.0f}x "
          f"(smooth-input solve_ivp {nb / ivp_s:.0f}x)")
    load1 = os.getloadavg()[0]

    if args.write:
        lines = [
            f"\n## bench_simulate ({time.strftime('%Y-%m-%d')}, {cpu}, "
            f"{os.cpu_count()} cores, numba threads {get_num_threads()}, load average "
            f"{load0:.1f} at start / {load1:.1f} at end)\n",
            f"Model mobile16: {model.n_states} nodes, {n_edges} edges ({n_state_edges} between "
            f"nodes), noise on every node; {args.days:g} days at dt = 0.01, daily recording.\n",
            "| run | patients | patient-years/s | wall s | patient-years per CPU s |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.1f} | "
                  f"{r[1] * args.days / 365 / CPU_SECONDS[r[3]]:.2f} |" if r[3] in CPU_SECONDS
                  else f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.1f} | |" for r in rows]
        lines += [
            "",
            f"- numba / numpy: **{nb / npy:.1f}x**; numba / solve_ivp loop (same input): "
            f"**{nb / ivp:.0f}x**; against the smooth-input easy case: {nb / ivp_s:.0f}x "
            f"(solve_ivp timed on {args.ivp_patients} patients and scaled)",
            f"- counter-based generator: {gen / 1e6:.0f} M normals/s (Squares64 + "
            "ziggurat, 2 threads)",
            f"- peak traced memory with per-patient summaries (2000 patients): {m30:.1f} MiB "
            f"for 30 days, {m365:.1f} MiB for 365 days",
            f"- kernel of mobile16, new process: compiled on an empty cache **{cold['seconds']:.1f} s**, "
            f"loaded from the cache by a second process **{warm['seconds']:.2f} s** (cache hit: "
            f"{warm['hit']}); warm / cold **{warm['seconds'] / cold['seconds']:.3f}**",
        ]
        lines += [f"- `{name}`, end to end as a new process: cold (empty kernel cache) **{c:.1f} s** "
                  f"({cc:.1f} CPU s), warm **{w:.2f} s** ({cw:.1f} CPU s; warm / cold {w / c:.2f})"
                  for name, c, w, cc, cw in e2e]
        with args.write.open("a") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
