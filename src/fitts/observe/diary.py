"""Simulated diary (EMA) studies: sample a theory's virtual patients as a diary study would.

A :class:`DiaryDesign` says how many days the diary runs, how many prompts a day and when,
which momentary measures each prompt asks, which nightly measures (sleep, HRV) are taken,
and how prompts go missing. :func:`simulate_diary` simulates the patients on a fine time
grid under realistic day-to-day input variation, reads the latent states at the prompt
times through the built-in instruments (:data:`fitts.observe.instruments.INSTRUMENTS`, or
an observation the model declares), with their measurement noise, and returns a long table
in the shape real diary data has::

    patient  day  prompt  time   measure         value
    0        0    0       0.125  sleep_quality_nrs  6.0     (night before day 0)
    0        0    1       0.333  pain_nrs           4.0
    0        0    1       0.333  distress_scale    11.0
    0        0    2       0.521  pain_nrs            NaN    (missed prompt)

``day`` counts diary days from 0; ``prompt`` is 1..P for the momentary prompts of a day and
0 for the nightly measures of the night *before* that day (read at ``night_hour``); ``time``
is in days since the diary started (day + hour / 24). Every scheduled prompt has a row per
measure; a missed prompt has ``value`` NaN, so the table has exactly
``patients x days x (P x momentary + nightly)`` rows.

Timing
------
Patients are first simulated for ``burn_in`` whole days (they leave their initial state; a
``prelude`` such as a tipping stressor acts then), recording only where they end. The diary
then continues each patient from there, with the same parameters, with step :data:`STEP`
(15 min) and states recorded every :data:`GRID` days (30 min); a prompt reads the states at
the grid point nearest its time. The diary phase draws its dynamic noise and everyday events
from the seed :func:`diary_seed` (a function of the seed), so it does not replay the burn-in's.

Randomness
----------
All of it is per patient: the dynamics use the simulator's streams, measurement noise the
instruments' ``observe`` streams (indexed by the time point on the recorded grid), and the
prompt jitter and missingness the same ``observe`` stream at counters from
:data:`DIARY_COUNTER_BASE` (far above the instruments' counters). A patient's diary is
therefore the same alone or among others, and for a longer diary its first days are the same.

Missingness
-----------
A prompt is missed with probability ``sigmoid(logit(missing) + missing_slope * (v - 5))``,
where ``v`` is the value the patient would have reported on ``missing_on`` (default
``pain_nrs``, 0-10): with ``missing_slope > 0`` more prompts are missed on bad days (missing
not at random). A missed prompt loses all its momentary measures. Nightly measures are
missed at random with probability ``missing_night``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from fitts.compile.compiled import CompiledModel
from fitts.errors import DataError, ModelError, did_you_mean
from fitts.observe.instruments import INSTRUMENTS, expressible, measure
from fitts.observe.measure import observe
from fitts.sim.rng import uniforms
from fitts.sim.sample import derive, sample_free, start_at
from fitts.sim.simulate import Apply, as_compiled, simulate
from fitts.spec.expr import parse_expr
from fitts.spec.model import Spec

#: integration step of diary simulations, days (15 min)
STEP = 1.0 / 96.0
#: recording grid of diary simulations, days (30 min); prompts read the nearest grid point
GRID = 1.0 / 48.0
#: first counter of the diary's own draws (jitter, missingness) in the `observe` stream
DIARY_COUNTER_BASE = 1 << 52
_STRIDE = 1 << 36
_JITTER, _MISS, _MISS_NIGHT = 0, 1, 2
#: prompts a day at most (counters per day)
MAX_PROMPTS = 48
#: columns of a diary table, in order
COLUMNS = ("patient", "day", "prompt", "time", "measure", "value")

#: everyday inputs of a diary simulation (when the model has the input): the default
#: protocol's daily stress rhythm (models/protocols/default.yaml) plus random daily hassles
#: (about two a day, 6 h each, lognormal size), which give days their day-to-day variation
EVERYDAY: tuple[dict[str, Any], ...] = (
    {"input": "psychosocial_stress", "kind": "daily", "values": [0.0, 0.3, 0.6, 0.2]},
    {"input": "psychosocial_stress", "kind": "events", "rate_per_year": 730.0, "duration": 0.25,
     "magnitude": {"dist": "lognormal", "median": 0.4, "sigma": 0.5}},
)
#: the tipping stressor of `--tip` (as fitts.analysis.attribution.STANDARD_STRESSOR): level 2
#: for 120 days, ending 30 days before the diary starts (burn_in 180)
TIP_PRELUDE: tuple[dict[str, Any], ...] = (
    {"input": "psychosocial_stress", "kind": "pulse", "start": 30.0, "duration": 120.0, "level": 2.0},
)
TIP_BURN_IN = 180.0

#: preferred momentary and nightly measures (the first expressible ones are the defaults)
MOMENTARY_DEFAULT = ("pain_nrs", "distress_scale", "fatigue_scale")
NIGHTLY_DEFAULT = (("sleep_quality_nrs", "psqi"), ("hrv_rmssd",))


@dataclass(frozen=True)
class DiaryDesign:
    """How a diary study samples its patients.

    Attributes
    ----------
    days
        Diary days (>= 2).
    prompts
        Momentary prompts a day (1..48). Ignored when `prompt_hours` is given.
    prompt_hours
        Explicit prompt times, hours after midnight (e.g. ``(8, 20)``: morning and evening).
        Default: `prompts` evenly spread over `window` (one prompt: at the window's end, an
        end-of-day diary).
    window
        Waking window (first, last prompt hour).
    jitter
        Prompts move at random by up to +-jitter/2 hours (semi-random EMA), kept in the window.
    measures
        Momentary measures: instrument names (see ``fitts.INSTRUMENTS``) or observations the
        model declares. None: the expressible ones of :data:`MOMENTARY_DEFAULT`.
    nightly
        Nightly measures of the night before each day, read at `night_hour` (for example a
        sleep quality rating and nocturnal HRV). None: the expressible ones of
        :data:`NIGHTLY_DEFAULT`; ``()`` for none.
    night_hour
        Hour after midnight at which the night's states are read.
    noise
        Whether the instruments add their measurement noise.
    missing
        Probability that a prompt is missed at random (0..1).
    missing_slope
        Log-odds of missing per point of `missing_on` above 5 (state-dependent missingness).
    missing_on
        The measure whose value drives state-dependent missingness.
    missing_night
        Probability that a nightly measurement is missed (at random).
    burn_in
        Whole days simulated before the diary starts.
    prelude
        Input components during the burn-in, timed in burn-in days (e.g. :data:`TIP_PRELUDE`).
    """

    days: int = 28
    prompts: int = 5
    prompt_hours: tuple[float, ...] | None = None
    window: tuple[float, float] = (8.0, 22.0)
    jitter: float = 0.0
    measures: tuple[str, ...] | None = None
    nightly: tuple[str, ...] | None = None
    night_hour: float = 3.0
    noise: bool = True
    missing: float = 0.1
    missing_slope: float = 0.0
    missing_on: str = "pain_nrs"
    missing_night: float = 0.05
    burn_in: float = 30.0
    prelude: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if int(self.days) != self.days or self.days < 2:
            raise DataError(f"diary days must be a whole number >= 2, got {self.days}")
        hours = self.hours()
        if not 1 <= len(hours) <= MAX_PROMPTS:
            raise DataError(f"prompts a day must be 1..{MAX_PROMPTS}, got {len(hours)}")
        lo, hi = self.window
        if not 0.0 <= lo <= hi < 24.0:
            raise DataError(f"window {self.window} must satisfy 0 <= first <= last < 24 (hours)")
        if any(not 0.0 <= h < 24.0 for h in hours) or list(hours) != sorted(hours):
            raise DataError(f"prompt hours {hours} must be increasing hours in [0, 24)")
        if not 0.0 <= self.night_hour < min(hours):
            raise DataError(f"night_hour {self.night_hour} must lie before the first prompt ({min(hours)} h)")
        for name in ("missing", "missing_night"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise DataError(f"{name} must be a probability in [0, 1), got {v}")
        if self.jitter < 0:
            raise DataError(f"jitter must be >= 0, got {self.jitter}")
        if self.burn_in < 0 or int(self.burn_in) != self.burn_in:
            raise DataError(f"burn_in must be a whole number of days >= 0, got {self.burn_in}")
        object.__setattr__(self, "prelude", tuple(dict(c) for c in self.prelude))

    def hours(self) -> tuple[float, ...]:
        """The nominal prompt hours of a day."""
        if self.prompt_hours is not None:
            return tuple(float(h) for h in self.prompt_hours)
        n = int(self.prompts)
        lo, hi = self.window
        if n < 1:
            return ()
        if n == 1:
            return (float(hi),)
        return tuple(float(h) for h in np.linspace(lo, hi, n))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for table metadata)."""
        d = asdict(self)
        d["prompt_hours"] = list(self.hours())
        return d


def resolve_measures(model: CompiledModel, design: DiaryDesign) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The momentary and nightly measures of `design` for `model` (defaults filled in, checked).

    Raises
    ------
    DataError
        A measure is neither an instrument nor a model observation, or the model cannot
        express it.
    """
    states = model.states

    def usable(name: str) -> bool:
        if name in INSTRUMENTS:
            return expressible(states, name)[0]
        return name in model.spec.observations

    def check(name: str) -> None:
        if name in INSTRUMENTS:
            ok, why = expressible(states, name)
            if not ok:
                raise DataError(f"diary measure {name!r} is {why}")
        elif name not in model.spec.observations:
            known = [*INSTRUMENTS, *model.spec.observations]
            raise DataError(f"unknown diary measure {name!r}." + did_you_mean(name, known)
                            + " Measures are instruments (fitts.INSTRUMENTS) or the model's observations: "
                            + ", ".join(known))

    if design.measures is None:
        momentary = tuple(m for m in MOMENTARY_DEFAULT if usable(m))
    else:
        momentary = tuple(design.measures)
    if design.nightly is None:
        nightly = tuple(next(m for m in group if usable(m)) for group in NIGHTLY_DEFAULT
                        if any(usable(m) for m in group))
    else:
        nightly = tuple(design.nightly)
    for m in (*momentary, *nightly):
        check(m)
    if not momentary:
        raise DataError(f"model {model.spec.name!r} expresses none of the default diary measures "
                        f"{', '.join(MOMENTARY_DEFAULT)}; name the measures (measures=...)")
    dup = sorted({m for m in (*momentary, *nightly) if (*momentary, *nightly).count(m) > 1})
    if dup:
        raise DataError(f"diary measure {dup[0]!r} is listed twice")
    if design.missing_slope and design.missing_on not in momentary:
        raise DataError(f"state-dependent missingness reads {design.missing_on!r}, which is not a momentary "
                        f"measure ({', '.join(momentary)}); add it or set missing_slope=0")
    return momentary, nightly


def measure_states(model: CompiledModel, name: str) -> tuple[str, ...]:
    """The latent states a diary measure reads (an instrument's states present in the model,
    or the states in a model observation's expression)."""
    if name in INSTRUMENTS:
        inst = INSTRUMENTS[name]
        return tuple(s for s in (*inst.states, *inst.optional) if s in model.state_index)
    if name in model.spec.observations:
        expr = model.inline(parse_expr(model.spec.observations[name].expr))
        return tuple(s for s in model.states if s in expr.names)
    raise DataError(f"unknown diary measure {name!r}")


def measure_direction(model: CompiledModel, name: str) -> dict[str, int]:
    """Sign (+1 / -1) of a measure's response to each state it reads, without noise.

    Read numerically: every state at 0.5, then the state at 0.3 and 0.7.
    """
    out: dict[str, int] = {}
    states = measure_states(model, name)
    for s in states:
        traj = np.full((1, 2, model.n_states), 0.5)
        i = model.state_index[s]
        traj[0, 0, i], traj[0, 1, i] = 0.3, 0.7
        ds = xr.Dataset({"trajectory": (("patient", "time", "state"), traj)},
                        coords={"patient": [0], "time": [0.0, 1.0], "state": list(model.states)})
        ds["params"] = (("patient", "parameter"), _typical_row(model)[None, :])
        ds = ds.assign_coords(parameter=[p.name for p in model.params])
        v = _read(model, ds, name, seed=0, noise=False, times=None)[0]
        out[s] = int(np.sign(v[1] - v[0])) or 1
    return out


def _typical_row(model: CompiledModel) -> np.ndarray:
    """Every parameter of the typical patient (priors at their medians, derived rows derived)."""
    one = np.array([0])
    P = derive(model, sample_free(model, one, 0, u=np.full((1, len(model.params)), 0.5)), one, {})
    return np.asarray(P[:, 0], dtype=float)


def _read(model: CompiledModel, ds: xr.Dataset, name: str, *, seed: int, noise: bool,
          times: np.ndarray | None) -> np.ndarray:
    """Values of measure `name`, shape (n_patients, n_times) on the grid (or at `times`)."""
    if name in INSTRUMENTS:
        return np.asarray(measure(ds, name, seed=seed, noise=noise, time=times).values, dtype=float)
    obs = observe(model, ds, [name], seed=seed, noise=noise)[name]
    values = np.asarray(obs.values, dtype=float)
    if times is None:
        return values
    idx = np.rint(np.asarray(times) / GRID).astype(np.int64)
    return values[:, idx]


def prompt_times(design: DiaryDesign, patients: np.ndarray, seed: int) -> np.ndarray:
    """Prompt times of each patient, days since the diary start, shape (n, days, P).

    Nominal hours plus uniform jitter (+-jitter/2 h, kept in the window), snapped to the
    recording grid :data:`GRID`; prompts of a day stay in order and apart.
    """
    hours = np.asarray(design.hours())
    n, days, p = len(patients), int(design.days), len(hours)
    h = np.broadcast_to(hours, (n, days, p)).copy()
    if design.jitter > 0:
        u = uniforms(seed, patients, "observe", days * MAX_PROMPTS,
                     offset=DIARY_COUNTER_BASE + _JITTER * _STRIDE).reshape(n, days, MAX_PROMPTS)[:, :, :p]
        h = h + (u - 0.5) * design.jitter
        h = np.clip(h, design.window[0], design.window[1])
    slots = np.rint(h / 24.0 / GRID).astype(np.int64)
    # keep prompts of a day in order and on distinct grid points
    for k in range(1, p):
        slots[:, :, k] = np.maximum(slots[:, :, k], slots[:, :, k - 1] + 1)
    return np.arange(days)[None, :, None] + slots * GRID


def _missing_uniforms(seed: int, patients: np.ndarray, days: int, p: int, which: int) -> np.ndarray:
    u = uniforms(seed, patients, "observe", days * MAX_PROMPTS,
                 offset=DIARY_COUNTER_BASE + which * _STRIDE)
    return u.reshape(len(patients), days, MAX_PROMPTS)[:, :, :p]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p)) if p > 0 else -math.inf


def everyday_schedule(model: CompiledModel) -> list[dict[str, Any]]:
    """:data:`EVERYDAY` components whose input the model has."""
    return [dict(c) for c in EVERYDAY if c["input"] in model.input_index]


def diary_seed(seed: int) -> int:
    """Seed of the diary phase's dynamics and events (the burn-in uses `seed` itself)."""
    return int((seed * 1_000_003 + 7_919) % (1 << 62))


def simulate_diary(
    model: CompiledModel | Spec | str | Path,
    design: DiaryDesign | None = None,
    *,
    patients: int | Sequence[int] | np.ndarray = 50,
    seed: int = 0,
    schedule: Iterable[Mapping[str, Any]] | None = None,
    challenge: Iterable[Mapping[str, Any]] = (),
    interventions: Iterable[Apply] = (),
    prelude: Iterable[Mapping[str, Any]] = (),
    params: Mapping[str, float | np.ndarray] | None = None,
    backend: str = "numba",
    chunk_size: int = 256,
    progress: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """Simulate a diary study of a model's virtual patients.

    Parameters
    ----------
    model
        A compiled model, Spec, model file or built-in theory name.
    design
        The diary design (default :class:`DiaryDesign()`: 28 days, 5 prompts a day).
    patients
        A count n (ids 0..n-1) or explicit patient ids.
    seed
        Seed of the simulation, the measurement noise, the jitter and the missingness.
    schedule
        Everyday inputs during the burn-in and the diary, each timed from its own start
        (default: :func:`everyday_schedule`).
    challenge
        Extra input components timed in diary days (day 0 = the diary's first day), e.g. a
        stress pulse mid-diary.
    interventions
        Interventions (``Apply``) timed in diary days.
    prelude
        Input components of the burn-in, timed in burn-in days, added to the design's own
        ``prelude`` (e.g. :data:`TIP_PRELUDE`).
    params
        Parameter overrides, as for :func:`fitts.simulate` (scalars, or arrays of shape (n,)).
    chunk_size
        Patients simulated at once (memory: about chunk x days x 48 x states x 8 bytes).
    progress
        Called with the patient-days just simulated.

    Returns
    -------
    pandas.DataFrame
        Long table with columns :data:`COLUMNS` (see the module docstring); ``attrs['fitts']``
        holds the design, model name and hash, seed and the measures' units.
    """
    return simulate_diaries(model, [design or DiaryDesign()], patients=patients, seed=seed, schedule=schedule,
                            challenge=challenge, interventions=interventions, prelude=prelude, params=params,
                            backend=backend, chunk_size=chunk_size, progress=progress)[0]


def simulate_diaries(
    model: CompiledModel | Spec | str | Path,
    designs: Sequence[DiaryDesign],
    *,
    patients: int | Sequence[int] | np.ndarray = 50,
    seed: int = 0,
    schedule: Iterable[Mapping[str, Any]] | None = None,
    challenge: Iterable[Mapping[str, Any]] = (),
    interventions: Iterable[Apply] = (),
    prelude: Iterable[Mapping[str, Any]] = (),
    params: Mapping[str, float | np.ndarray] | None = None,
    backend: str = "numba",
    chunk_size: int = 256,
    progress: Callable[[float], None] | None = None,
) -> list[pd.DataFrame]:
    """Several diary designs read from one simulation of the same patients.

    The designs must share ``burn_in``; the patients are simulated for the longest design,
    and each design reads its own prompts (a shorter design sees the first days). Arguments
    as :func:`simulate_diary`; returns one table per design.
    """
    m = as_compiled(model)
    if not designs:
        raise DataError("no diary designs given")
    burn_ins = {d.burn_in for d in designs}
    if len(burn_ins) > 1:
        raise DataError(f"designs read from one simulation must share burn_in, got {sorted(burn_ins)}")
    measures = [resolve_measures(m, d) for d in designs]
    burn_in = designs[0].burn_in
    preludes = {repr(d.prelude) for d in designs}
    if len(preludes) > 1:
        raise DataError("designs read from one simulation must share their prelude")
    ids = np.arange(patients) if isinstance(patients, int | np.integer) else np.asarray(patients, np.int64)
    if ids.ndim != 1 or len(ids) == 0:
        raise DataError("patients must be a positive count or a non-empty list of ids")
    base_sched = everyday_schedule(m) if schedule is None else [dict(c) for c in schedule]
    pre_sched = base_sched + [dict(c) for c in (*designs[0].prelude, *prelude)]
    sched = base_sched + [dict(c) for c in challenge]
    applies = list(interventions)
    span = max(d.days for d in designs) + 1.0
    params = dict(params or {})
    free = [row.name for row in m.params if row.kind == "prior"]
    parts: list[list[pd.DataFrame]] = [[] for _ in designs]
    with _one_thread():
        _run_chunks(m, ids, designs, measures, parts, chunk_size=chunk_size, params=params, free=free,
                    burn_in=burn_in, pre_sched=pre_sched, sched=sched, applies=applies, span=span, seed=seed,
                    backend=backend, progress=progress)
    out = []
    for d, (momentary, nightly), chunks in zip(designs, measures, parts, strict=True):
        df = pd.concat(chunks, ignore_index=True)
        df["measure"] = pd.Categorical(df["measure"], categories=[*momentary, *nightly])
        df.attrs["fitts"] = {
            "design": d.to_dict(), "model_name": m.spec.name, "model_hash": m.model_hash, "seed": int(seed),
            "momentary": list(momentary), "nightly": list(nightly),
            "units": {k: _units(m, k) for k in (*momentary, *nightly)},
        }
        out.append(df)
    return out


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run numba kernels on one thread: a diary records every 30 min, so each kernel call
    advances only two steps, and starting threads costs more than it saves (measured on two
    busy cores: 4.7 s on one thread against 17 s on two for 500 patients x 14 days)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a core dependency
        yield
        return
    prev = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(prev)


def _run_chunks(m: CompiledModel, ids: np.ndarray, designs: Sequence[DiaryDesign],
                measures: list[tuple[tuple[str, ...], tuple[str, ...]]], parts: list[list[pd.DataFrame]], *,
                chunk_size: int, params: dict[str, Any], free: list[str], burn_in: float,
                pre_sched: list[dict[str, Any]], sched: list[dict[str, Any]], applies: list[Apply], span: float,
                seed: int, backend: str, progress: Callable[[float], None] | None) -> None:
    """Simulate the patients chunk by chunk (burn-in, then the diary) and read every design."""
    for c0 in range(0, len(ids), chunk_size):
        sub = ids[c0:c0 + chunk_size]
        sub_params = {k: (np.asarray(v)[c0:c0 + chunk_size] if np.ndim(v) else v) for k, v in params.items()}
        try:
            if burn_in > 0:
                pre = simulate(m, patients=sub, days=burn_in, dt=STEP, seed=seed, schedule=pre_sched,
                               params=sub_params, record="summary", record_every=burn_in, backend=backend,
                               progress=progress, command="")
                P = pre["params"]
                sub_params = {**{k: P.sel(parameter=k).values for k in free}, **sub_params,
                              **start_at(m, pre["final"].values)}
            ds = simulate(m, patients=sub, days=span, dt=STEP, seed=diary_seed(seed), schedule=sched,
                          interventions=applies, params=sub_params, record="grid", record_every=GRID,
                          backend=backend, progress=progress, command="")
        except ModelError as exc:
            raise DataError(f"diary simulation: {exc}") from None
        for k, (d, (momentary, nightly)) in enumerate(zip(designs, measures, strict=True)):
            parts[k].append(_sample(m, ds, d, momentary, nightly, seed))


def _units(model: CompiledModel, name: str) -> str:
    if name in INSTRUMENTS:
        return INSTRUMENTS[name].units
    return model.spec.observations[name].units or ""


def _sample(m: CompiledModel, ds: xr.Dataset, design: DiaryDesign, momentary: tuple[str, ...],
            nightly: tuple[str, ...], seed: int) -> pd.DataFrame:
    """Read one chunk's diary from its fine-grid simulation."""
    ids = np.asarray(ds.patient.values, dtype=np.int64)
    n, days = len(ids), int(design.days)
    p = len(design.hours())
    burn_slots = 0  # the diary simulation starts with the diary
    t_prompt = prompt_times(design, ids, seed)  # (n, days, p), diary days
    slot = burn_slots + np.rint(t_prompt / GRID).astype(np.int64)
    lo, hi = int(slot.min()), int(slot.max())
    rows = np.arange(n)[:, None, None]
    values: dict[str, np.ndarray] = {}
    grid_times = np.asarray(ds.time.values, dtype=float)
    window = grid_times[lo:hi + 1]
    for name in momentary:
        full = _read(m, ds, name, seed=seed, noise=design.noise, times=window)
        values[name] = full[rows, slot - lo]
    missed = np.zeros((n, days, p), dtype=bool)
    if design.missing > 0 or design.missing_slope:
        logit = _logit(design.missing) + (design.missing_slope * (values[design.missing_on] - 5.0)
                                          if design.missing_slope else 0.0)
        prob = 1.0 / (1.0 + np.exp(-np.asarray(logit, dtype=float)))
        missed = _missing_uniforms(seed, ids, days, p, _MISS) < prob
    frames = []
    day_idx = np.broadcast_to(np.arange(days)[None, :, None], (n, days, p))
    pid = np.broadcast_to(ids[:, None, None], (n, days, p))
    for k, name in enumerate(momentary):
        v = np.where(missed, np.nan, values[name])
        frames.append(pd.DataFrame({
            "patient": pid.reshape(-1), "day": day_idx.reshape(-1),
            "prompt": np.broadcast_to(np.arange(1, p + 1), (n, days, p)).reshape(-1),
            "time": t_prompt.reshape(-1), "measure": name, "value": v.reshape(-1),
            "_order": k + 1}))
    if nightly:
        night_slot = burn_slots + np.rint((np.arange(days) + design.night_hour / 24.0) / GRID).astype(np.int64)
        times_n = grid_times[night_slot]
        miss_n = _missing_uniforms(seed, ids, days, 1, _MISS_NIGHT)[:, :, 0] < design.missing_night
        for k, name in enumerate(nightly):
            v = _read(m, ds, name, seed=seed, noise=design.noise, times=times_n)
            v = np.where(miss_n, np.nan, v)
            frames.append(pd.DataFrame({
                "patient": np.repeat(ids, days), "day": np.tile(np.arange(days), n), "prompt": 0,
                "time": np.tile(night_slot * GRID - burn_slots * GRID, n), "measure": name,
                "value": v.reshape(-1), "_order": -len(nightly) + k}))
    df = pd.concat(frames, ignore_index=True)
    df = df.sort_values(["patient", "day", "prompt", "_order"], kind="stable").drop(columns="_order")
    df["time"] = np.round(df["time"].to_numpy(dtype=float), 10)
    df["patient"] = df["patient"].astype(np.int64)
    df["day"] = df["day"].astype(np.int64)
    df["prompt"] = df["prompt"].astype(np.int64)
    return df.reset_index(drop=True)[list(COLUMNS)]


def wide(diary: pd.DataFrame) -> pd.DataFrame:
    """One row per (patient, day, prompt), one column per measure (NaN when missed)."""
    missing = [c for c in COLUMNS if c not in diary.columns]
    if missing:
        raise DataError(f"a diary table needs columns {', '.join(COLUMNS)}; missing: {', '.join(missing)}")
    w = diary.pivot_table(index=["patient", "day", "prompt"], columns="measure", values="value",
                          aggfunc="first", dropna=False, observed=True)
    w.columns = [str(c) for c in w.columns]
    return w.reset_index()
