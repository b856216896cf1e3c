"""Built-in measurement instruments: latent states -> the scores studies report.

Latent states are never observed directly: studies see scales and laboratory measures. Each :class:`Instrument`
imitates one published scale or laboratory measure: it names the states it needs, its
units, the source of the scale and its measurement noise, and maps state trajectories
(each an array of shape ``(n_patients, n_times)``, activations in [0, 1]) to the scale,
then clips to the scale's range (and rounds where the scale is integer).

Measurement error
-----------------
Every instrument's error has two parts, both from the scale's published reliability: an
*occasion* error, drawn afresh at every measurement (the standard error of measurement,
SEM, of repeated testing), and, where the scale carries stable person-to-person variance
that the theories' states do not (age, sex, fitness, anatomy, response style), a *person*
error, drawn once per patient and kept over time. Together they give the scale's
test-retest intraclass correlation, ICC = (var(true) + var(person)) / (var(true) +
var(person) + var(occasion)), and keep case-control effect sizes from being inflated by a
readout that only the modelled states move. Each
``*_NOISE`` constant is the occasion sd, each ``*_PERSON_SD`` the person sd; the
reliability source is cited next to them and in the instrument's ``reliability``.

Every mapping is simple and monotone, with its parameters as module-level constants
(starting points for calibration, chosen from the scale's normative values, never fitted
to the targets). ``*_REF`` constants are the resting levels of a healthy person in the
built-in theories; an instrument reads its normative value there.

Randomness
----------
Measurement noise comes from each patient's own ``observe`` stream
(:func:`fitts.sim.rng.normals`), so a patient's measurement does not depend on the
other patients measured with them. Each noise stream has a fixed index in
:data:`STREAMS`; its counters are ``OBSERVE_COUNTER_BASE + index * 2**32 + time index``,
where the time index is the position on the dataset's recorded time grid. The base keeps
them apart from the model-declared observations of :mod:`fitts.observe.measure` (which
use ``k * 2**32`` for small k). Instruments derived from the same measured scores share
those scores' streams on purpose: ``acr2016_case`` is computed from the same WPI and
SSS values that ``wpi`` and ``sss`` return, and ``ienfd_pathology`` from the same values
that ``ienfd`` returns.

Public API: :data:`INSTRUMENTS`, :func:`measure`, :func:`expressible`, :func:`acr2016`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from fitts.errors import DataError, did_you_mean
from fitts.sim.rng import normals

#: key of the time grid (days, shape (n_times,)) in the mapping given to measure functions
TIME_KEY = "time"

#: first counter of the instruments' noise streams (above model-declared observations)
OBSERVE_COUNTER_BASE = 1 << 40
#: counters reserved per stream (time indices)
STREAM_STRIDE = 1 << 32
#: fixed index of every noise stream; append new streams, never renumber
STREAMS: dict[str, int] = {
    "pain_nrs": 0,
    "fiqr": 1,
    "wpi": 2,
    "sss": 3,
    "hrv_rmssd": 4,
    "hrv_lnhf": 5,
    "pressure_pain_threshold": 6,
    "pressure_for_equal_pain": 7,
    "cpm_effect": 8,
    "temporal_summation": 9,
    "ienfd": 10,
    "ienfd_person": 11,
    "psqi": 12,
    "fatigue_scale": 13,
    "distress_scale": 14,
    "self_compassion": 15,
    "pain_nrs_person": 16,
    "fiqr_person": 17,
    "hrv_person": 18,
    "pressure_person": 19,
    "cpm_person": 20,
    "temporal_summation_person": 21,
    "psqi_person": 22,
    "fatigue_person": 23,
    "distress_person": 24,
    "evoked_pain_nrs": 25,
    "combination": 26,
}

# ----------------------------------------------------------------------------- constants
# Healthy resting levels of the states (built-in theories at rest); instruments read
# their normative values there.
VAGAL_REF = 0.8
SYMPATHETIC_REF = 0.05
CENTRAL_GAIN_REF = 0.15
DESCENDING_INHIBITION_REF = 0.9
PERIPHERAL_REF = 0.1

# pain NRS 0-10, read through a shifted logit: NRS = 10 sigmoid(logit(pain) - shift), so
# the persistent-pain state (pain about 0.9) reads the 6.5-7 of trial baselines (e.g.
# Arnold LM et al. J Pain 2008;9:792-805: baseline 6.7-7.0) and rest reads about 0
PAIN_NRS_PER_UNIT = 10.0  # NRS points at pain = 1
PAIN_NRS_LOGIT_SHIFT = 1.5  # logit units
#: single 0-10 pain ratings: SEM about 1 point, test-retest r 0.6-0.8 over days
#: (Jensen MP, McFarland CA. Pain 1993;55:195-203); response style adds a stable part
PAIN_NRS_NOISE = 1.0  # NRS points, occasion
PAIN_NRS_PERSON_SD = 0.7  # NRS points, person

# FIQR 0-100 (Bennett 2009): three domains
FIQR_FUNCTION_MAX = 30.0
FIQR_OVERALL_MAX = 20.0
FIQR_SYMPTOMS_MAX = 50.0
#: function domain (9 activities): weights of low activity, pain and fatigue
FIQR_FUNCTION_WEIGHTS = {"activity_deficit": 0.5, "pain": 0.25, "fatigue": 0.25}
#: overall impact (goals not met, overwhelmed): weights of low activity, pain, distress
FIQR_OVERALL_WEIGHTS = {"activity_deficit": 0.4, "pain": 0.3, "distress": 0.3}
#: symptom domain, by the number of FIQR symptom items each state stands for: pain,
#: stiffness, tenderness, sensitivity (4); energy, balance (2); sleep (1); depression,
#: memory, anxiety (3)
FIQR_SYMPTOM_WEIGHTS = {"pain": 0.4, "fatigue": 0.2, "sleep_disturbance": 0.1, "distress": 0.3}
#: the total is read through a shifted logit like pain (FIQR = 100 sigmoid(logit(raw/100)
#: - shift)), so the persistent-pain state reads the published FM mean of about 55-57
#: (Bennett RM et al. Arthritis Res Ther 2009;11:R120: 56.6, SD 19.7) and rest about 2
FIQR_LOGIT_SHIFT = 1.7  # logit units
#: FIQR reliability: alpha 0.95; SEM of a total with SD 19.7 at ICC 0.85 is about 7.6
#: points (Bennett 2009; Luciano JV et al. Arthritis Care Res 2013;65:1682-9)
FIQR_NOISE = 7.0  # FIQR points, occasion
FIQR_PERSON_SD = 5.0  # FIQR points, person (response style, comorbidity)

# ACR 2016 (Wolfe et al. 2016)
WPI_MAX = 19
SSS_MAX = 12
#: fraction of the 19 WPI sites painful at full pain without central gain (localised pain)
WPI_LOCAL_FRACTION = 0.3
WPI_NOISE = 1.5  # regions
SSS_NOISE = 1.0  # SSS points
#: the 15 WPI sites that count for generalized pain, 3 in each of the 5 regions (jaw,
#: chest and abdomen are excluded from the generalized-pain definition)
GENERALIZED_SITES = 15
SITES_PER_REGION = 3
N_REGIONS = 5
GENERALIZED_MIN_REGIONS = 4
#: symptoms must be present for >= 3 months: criteria met on this fraction of the window
ACR_HISTORY_DAYS = 90.0
ACR_PERSISTENCE = 0.8

# HRV (Nunan et al. 2010 short-term norms: RMSSD 42 ms, HF 657 ms^2)
RMSSD_REF_MS = 42.0
LNHF_REF = math.log(657.0)
HRV_VAGAL_GAIN = 1.0  # ln(ms) per unit of vagal tone
HRV_SYMPATHETIC_GAIN = 0.5  # ln(ms) per unit of sympathetic tone
LNHF_PER_LN_RMSSD = 2.0  # HF power scales with RMSSD squared
#: resting short-term HRV: between-day ICC of ln RMSSD 0.49-0.64 (Uhlig S, Meylan A,
#: Rudolph U. Biol Psychol 2020;154:107905. doi:10.1016/j.biopsycho.2020.107905) and a
#: between-person sd of ln RMSSD about 0.5 in healthy adults from age, sex and fitness
#: (Nunan 2010); person 0.45 and occasion 0.40 give ICC 0.56
RMSSD_LOG_NOISE = 0.40  # sd of ln RMSSD, occasion
RMSSD_PERSON_LOG_SD = 0.45  # sd of ln RMSSD, person
LNHF_NOISE = 0.8  # ln(ms^2), occasion (HF power ~ RMSSD^2: twice the log scale)
LNHF_PERSON_SD = 0.9  # ln(ms^2), person (the same person deviation as RMSSD, doubled)
RMSSD_BOUNDS = (2.0, 250.0)  # ms
LNHF_BOUNDS = (0.0, 12.0)  # ln(ms^2)

# pressure pain threshold (kg/cm^2)
PPT_REF = 4.0  # kg/cm^2 at healthy resting levels
PPT_CENTRAL_GAIN = 1.0  # ln(kg/cm^2) per unit of central gain (lower threshold)
#: ln(kg/cm^2) per unit of descending inhibition (higher threshold): losing all inhibition
#: lowers the threshold by about 60 %, the size of the FM-control threshold difference
PPT_DESCENDING_INHIBITION = 1.0
#: algometry: inter-session ICC 0.91 (Chesterton LS et al. Clin J Pain 2007;23:760-6.
#: doi:10.1097/AJP.0b013e318154b6ae), between-person CV about 30 % in healthy adults
#: (Fischer 1987); person 0.30 and occasion 0.10 on the log scale give ICC 0.90
PPT_LOG_NOISE = 0.10  # occasion
PRESSURE_PERSON_LOG_SD = 0.30  # person (shared by both pressure measures: tissue, size, sex)
PRESSURE_BOUNDS = (0.2, 11.0)  # kg/cm^2 (algometer range; testing stops before bruising)

# stimulus-response: evoked NRS = 10 x^b / (1 + x^b), x = pressure * sensitivity / half-max
SR_HALF_MAX = 4.0  # kg/cm^2 evoking NRS 5 at healthy resting levels
SR_EXPONENT = 2.0
SR_CENTRAL_GAIN = 1.0  # ln sensitivity per unit of central gain
SR_PERIPHERAL = 0.5  # ln sensitivity per unit of peripheral sensitisation (nociception, drg)
EQUAL_PAIN_NRS = 5.0  # the fixed evoked pain level (NRS) whose pressure is reported
SR_LOG_NOISE = 0.15  # occasion (Gracely 2002 stimulus-response; single-session rating error)
#: the standard stimulus of an evoked-pain rating when a target names none: the pressure that
#: evokes NRS 5 at healthy resting levels (and the 4 kg/cm^2 tender-point criterion)
EVOKED_PRESSURE = SR_HALF_MAX  # kg/cm^2
#: a single 0-10 rating of an experimental stimulus: SEM about 1 point, as for daily pain
#: ratings (Jensen MP, McFarland CA. Pain 1993;55:195-203)
EVOKED_NRS_NOISE = 1.0  # NRS points, occasion

# CPM and temporal summation
CPM_PCT_PER_UNIT = 40.0  # % reduction of test pain per unit of descending inhibition
#: CPM reliability: inter-session ICC fair to good, about 0.5-0.6 (Kennedy DL et al.
#: Pain 2016;157:2410-19. doi:10.1097/j.pain.0000000000000689); person 15 and occasion 15
#: percentage points give ICC about 0.5 around the model's own spread
CPM_NOISE = 15.0  # %, occasion
CPM_PERSON_SD = 15.0  # %, person
TS_PER_UNIT = 4.0  # NRS points of wind-up per unit of central gain
#: temporal summation reliability: ICC about 0.6 between sessions (Cathcart S et al. Pain
#: Res Manag 2009;14:433-8; Kong JT et al. J Pain 2013;14:79-88. doi:10.1016/j.jpain.2012.10.010)
TS_NOISE = 1.2  # NRS points, occasion
TS_PERSON_SD = 1.5  # NRS points, person

# IENFD, distal leg (Lauria 2010 norms)
IENFD_MEAN = 9.5  # fibres/mm
IENFD_BETWEEN_SD = 2.8  # fibres/mm, persistent person-to-person spread
IENFD_NOISE = 1.0  # fibres/mm, biopsy sampling and counting error
IENFD_LOSS_PER_UNIT = 0.6  # fraction lost at full small-fibre pathology (mild, not SFN)
IENFD_BOUNDS = (0.0, 30.0)
#: default pathology cut-off: the 5th percentile of the normative distribution
IENFD_PATHOLOGY_CUTOFF = IENFD_MEAN - 1.645 * math.hypot(IENFD_BETWEEN_SD, IENFD_NOISE)

# PSQI 0-21 (Buysse 1989; > 5 = poor sleeper)
PSQI_BASE = 2.0
PSQI_PER_UNIT = 17.0
#: PSQI test-retest r 0.87 over 2 days to 6 weeks (Backhaus J et al. J Psychosom Res
#: 2002;53:737-40. doi:10.1016/S0022-3999(02)00330-6)
PSQI_NOISE = 1.5  # PSQI points, occasion
PSQI_PERSON_SD = 1.0  # PSQI points, person
PSQI_POOR_SLEEPER = 5

# fatigue NRS 0-10, HADS 0-42, SCS 1-5
FATIGUE_PER_UNIT = 10.0
#: single fatigue ratings: same error model as pain ratings (Mendoza TR et al. Cancer
#: 1999;85:1186-96: BFI alpha 0.96)
FATIGUE_NOISE = 1.0  # occasion
FATIGUE_PERSON_SD = 0.7  # person
HADS_PER_UNIT = 42.0
#: HADS total: test-retest r about 0.8-0.9, SEM about 2-3 points (Bjelland I et al.
#: J Psychosom Res 2002;52:69-77. doi:10.1016/S0022-3999(01)00296-3)
HADS_NOISE = 3.0  # occasion
HADS_PERSON_SD = 2.0  # person
SCS_MIN = 1.0
SCS_PER_UNIT = 4.0
#: SCS: test-retest r 0.93 with SD 0.6 (Neff KD. Self Identity 2003;2:223-50): SEM about
#: 0.16; no person term, since the scale measures the soothing state itself
SCS_NOISE = 0.16

States = Mapping[str, np.ndarray]
#: ``rng_normals(stream, per_patient=False)``: standard normals of a named stream,
#: shape (n_patients, n_times) (or (n_patients, 1) per patient); zeros with noise off
RngNormals = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Instrument:
    """One measurement instrument.

    Attributes
    ----------
    name, units, description, source
        What it is, its units and the citation of the scale or definition it imitates.
    states
        States it needs (a theory lacking one cannot express it).
    optional
        States it uses when present; without them it falls back as its docstring says.
    noise
        Occasion measurement-error sd, in `units` (or of the log of the value if
        `noise_scale` is ``"log"``), drawn afresh at every measurement.
    person_noise
        Person measurement-error sd (same units), drawn once per patient: stable variance
        of the scale that the theories' states do not carry.
    fn
        ``fn(states, rng_normals, **options) -> (n_patients, n_times)`` values.
    bounds, integer
        The scale's range (values are clipped to it) and whether it is integer.
    history_days, persistence
        For duration criteria: the value at t is 1 if `fn` is 1 over at least
        `persistence` of the window (t - history_days, t] (days before the recording
        starts count as not met).
    options
        Keyword options `fn` accepts (with defaults in its signature).
    """

    name: str
    units: str
    states: tuple[str, ...]
    description: str
    source: str
    noise: float
    fn: Callable[..., np.ndarray] = field(repr=False)
    bounds: tuple[float, float] = (-np.inf, np.inf)
    integer: bool = False
    optional: tuple[str, ...] = ()
    noise_scale: str = "linear"
    history_days: float = 0.0
    persistence: float = 1.0
    options: tuple[str, ...] = ()
    person_noise: float = 0.0


# ----------------------------------------------------------------------------- helpers


def _finish(x: np.ndarray, bounds: tuple[float, float], integer: bool = False) -> np.ndarray:
    """Round (for integer scales) and clip to the scale's range."""
    if integer:
        x = np.round(x)
    return np.clip(x, bounds[0], bounds[1]) + 0.0  # + 0.0 turns -0.0 into 0.0


def _weighted(states: States, weights: Mapping[str, float]) -> np.ndarray:
    """Weighted mean of the weights' states that are present (weights renormalised).

    ``activity_deficit`` stands for ``1 - activity``.
    """
    total, acc = 0.0, 0.0
    for key, w in weights.items():
        if key == "activity_deficit":
            v = 1.0 - states["activity"]
        elif key in states:
            v = states[key]
        else:
            continue
        acc = acc + w * v
        total += w
    return acc / total


def _error(rng: RngNormals, stream: str, occasion: float, person_stream: str | None = None,
           person: float = 0.0) -> np.ndarray:
    """Measurement error: occasion sd * a fresh normal + person sd * the patient's own normal.

    Shape (n_patients, n_times) (the person part broadcasts over time).
    """
    err = occasion * rng(stream)
    if person_stream is not None and person:
        err = err + person * rng(person_stream, per_patient=True)
    return err


def shifted_logit(x: np.ndarray, shift: float) -> np.ndarray:
    """sigmoid(logit(x) - shift) = x / (x + (1 - x) e^shift), for x in [0, 1].

    A monotone readout that maps 0 to 0 and 1 to 1 and moves the middle of the scale down
    by `shift` logit units (written without logs, so 0 and 1 are exact).
    """
    x = np.clip(x, 0.0, 1.0)
    return x / (x + (1.0 - x) * math.exp(shift))


def _mean_present(states: States, names: tuple[str, ...], fallback: str) -> np.ndarray:
    """Mean of the named states that are present, else the `fallback` state."""
    present = [states[n] for n in names if n in states]
    if not present:
        return states[fallback]
    return sum(present) / len(present)


# ----------------------------------------------------------------------------- instruments


def _pain_nrs(states: States, rng: RngNormals) -> np.ndarray:
    """Daily pain intensity, numeric rating scale 0-10 (integer).

    NRS = 10 * shifted_logit(pain, PAIN_NRS_LOGIT_SHIFT) + person error (sd
    PAIN_NRS_PERSON_SD) + occasion error (sd PAIN_NRS_NOISE), clipped to 0-10, rounded.
    Source: 11-point pain NRS (Hawker GA et al. Arthritis Care Res 2011;63:S240-52);
    reliability Jensen MP, McFarland CA. Pain 1993;55:195-203.
    """
    return (PAIN_NRS_PER_UNIT * shifted_logit(states["pain"], PAIN_NRS_LOGIT_SHIFT)
            + _error(rng, "pain_nrs", PAIN_NRS_NOISE, "pain_nrs_person", PAIN_NRS_PERSON_SD))


def _fiqr(states: States, rng: RngNormals) -> np.ndarray:
    """Revised Fibromyalgia Impact Questionnaire total, 0-100 (higher = worse).

    Three domains as in Bennett 2009: function (0-30) from low activity, pain and
    fatigue; overall impact (0-20) from low activity, pain and distress; symptoms (0-50)
    from pain, fatigue, sleep disturbance and distress weighted by the number of FIQR
    symptom items each stands for (FIQR_*_WEIGHTS). Without a `distress` state its
    weight is dropped and the others renormalised. The raw total is read through
    :func:`shifted_logit` (FIQR_LOGIT_SHIFT); person error sd FIQR_PERSON_SD, occasion
    error sd FIQR_NOISE points. Source: Bennett RM et al. Arthritis Res Ther 2009;11:R120.
    """
    function = FIQR_FUNCTION_MAX * _weighted(states, FIQR_FUNCTION_WEIGHTS)
    overall = FIQR_OVERALL_MAX * _weighted(states, FIQR_OVERALL_WEIGHTS)
    symptoms = FIQR_SYMPTOMS_MAX * _weighted(states, FIQR_SYMPTOM_WEIGHTS)
    raw = (function + overall + symptoms) / 100.0
    return 100.0 * shifted_logit(raw, FIQR_LOGIT_SHIFT) + _error(rng, "fiqr", FIQR_NOISE, "fiqr_person",
                                                                  FIQR_PERSON_SD)


def _wpi_score(states: States, rng: RngNormals) -> np.ndarray:
    """Measured WPI (integer 0-19): painful fraction of the 19 sites.

    fraction = pain * (WPI_LOCAL_FRACTION + (1 - WPI_LOCAL_FRACTION) * central_gain):
    pain without central gain stays local, central gain makes it widespread.
    """
    spread = WPI_LOCAL_FRACTION + (1.0 - WPI_LOCAL_FRACTION) * states["central_gain"]
    wpi = WPI_MAX * states["pain"] * spread + WPI_NOISE * rng("wpi")
    return _finish(wpi, (0, WPI_MAX), integer=True)


def _sss_score(states: States, rng: RngNormals) -> np.ndarray:
    """Measured SSS (integer 0-12): four parts of 0-3 each.

    fatigue 3*fatigue; waking unrefreshed 3*sleep_disturbance; cognitive symptoms
    3*mean(salience, distress) (whichever exist; fatigue if neither); somatic symptoms
    (headache, lower-abdominal pain, depression) 3*mean(central_gain, distress).
    """
    cognitive = _mean_present(states, ("salience", "distress"), fallback="fatigue")
    somatic = _mean_present(states, ("central_gain", "distress"), fallback="central_gain")
    sss = 3.0 * (states["fatigue"] + states["sleep_disturbance"] + cognitive + somatic)
    return _finish(sss + SSS_NOISE * rng("sss"), (0, SSS_MAX), integer=True)


def generalized_regions(wpi: np.ndarray, central_gain: np.ndarray) -> np.ndarray:
    """Number of the 5 body regions with pain, from WPI and widespreadness.

    Of the WPI sites, GENERALIZED_SITES (3 per region) count for generalized pain;
    the measured WPI is scaled to them. Localised pain fills regions one after another
    (ceil(sites / 3) regions); fully widespread pain (central_gain = 1) spreads one site
    per region (min(5, sites)); in between the count is interpolated by central gain.
    """
    sites = np.asarray(wpi, dtype=float) * GENERALIZED_SITES / WPI_MAX
    packed = np.ceil(sites / SITES_PER_REGION - 1e-9)
    spread = np.minimum(N_REGIONS, np.ceil(sites - 1e-9))
    cg = np.clip(central_gain, 0.0, 1.0)
    return np.clip(np.round(packed + cg * (spread - packed)), 0, N_REGIONS)


def acr2016_criteria(wpi: np.ndarray, sss: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """ACR 2016 criteria 1 and 2 on one day (1.0 met, 0.0 not met).

    (WPI >= 7 and SSS >= 5) or (4 <= WPI <= 6 and SSS >= 9), and generalized pain (pain
    in at least 4 of 5 regions). The duration criterion (3 months) is applied by the
    `acr2016_case` instrument over the trajectory. Source: Wolfe F et al. Semin Arthritis
    Rheum 2016;46:319-329.
    """
    wpi, sss, regions = np.asarray(wpi), np.asarray(sss), np.asarray(regions)
    severity = ((wpi >= 7) & (sss >= 5)) | ((wpi >= 4) & (wpi <= 6) & (sss >= 9))
    return (severity & (regions >= GENERALIZED_MIN_REGIONS)).astype(float)


def _wpi(states: States, rng: RngNormals) -> np.ndarray:
    """Widespread Pain Index, 0-19 painful sites (integer).

    WPI = 19 * pain * (WPI_LOCAL_FRACTION + (1 - WPI_LOCAL_FRACTION) * central_gain)
    + noise (sd WPI_NOISE), rounded and clipped. Source: Wolfe F et al. Semin Arthritis
    Rheum 2016;46:319-329.
    """
    return _wpi_score(states, rng)


def _sss(states: States, rng: RngNormals) -> np.ndarray:
    """Symptom Severity Scale, 0-12 (integer).

    Fatigue, waking unrefreshed, cognitive symptoms (0-3 each) and somatic symptoms
    (0-3) as in :func:`_sss_score`, + noise (sd SSS_NOISE). Source: Wolfe F et al.
    Semin Arthritis Rheum 2016;46:319-329.
    """
    return _sss_score(states, rng)


def _acr2016_daily(states: States, rng: RngNormals) -> np.ndarray:
    """ACR 2016 case status (0/1).

    Daily criteria (:func:`acr2016_criteria`) on the measured WPI and SSS (the same
    values the `wpi` and `sss` instruments return) and the generalized-pain region count
    (:func:`generalized_regions`); a case at time t has met them on at least
    ACR_PERSISTENCE of the ACR_HISTORY_DAYS days before t (symptoms >= 3 months).
    Source: Wolfe F et al. Semin Arthritis Rheum 2016;46:319-329.
    """
    wpi = _wpi_score(states, rng)
    sss = _sss_score(states, rng)
    return acr2016_criteria(wpi, sss, generalized_regions(wpi, states["central_gain"]))


def _ln_rmssd_mean(states: States) -> np.ndarray:
    return (math.log(RMSSD_REF_MS) + HRV_VAGAL_GAIN * (states["vagal"] - VAGAL_REF)
            - HRV_SYMPATHETIC_GAIN * (states["sympathetic"] - SYMPATHETIC_REF))


def _hrv_rmssd(states: States, rng: RngNormals) -> np.ndarray:
    """Resting RMSSD, ms (log-normal).

    ln RMSSD = ln 42 + HRV_VAGAL_GAIN (vagal - VAGAL_REF) - HRV_SYMPATHETIC_GAIN
    (sympathetic - SYMPATHETIC_REF) + person error (sd RMSSD_PERSON_LOG_SD) + occasion
    error (sd RMSSD_LOG_NOISE), both on the log scale.
    Source: short-term HRV norms, Nunan D et al. Pacing Clin Electrophysiol
    2010;33:1407-17 (RMSSD 42 ms); Task Force ESC/NASPE, Circulation 1996;93:1043-65;
    reliability Uhlig S et al. Biol Psychol 2020;154:107905.
    """
    return np.exp(_ln_rmssd_mean(states)
                  + _error(rng, "hrv_rmssd", RMSSD_LOG_NOISE, "hrv_person", RMSSD_PERSON_LOG_SD))


def _hrv_lnhf(states: States, rng: RngNormals) -> np.ndarray:
    """Resting high-frequency HRV power, ln(ms^2).

    ln HF = ln 657 + 2 (ln RMSSD - ln 42) (HF power scales with RMSSD squared), with
    ln RMSSD from vagal and sympathetic tone as for `hrv_rmssd`, + person error (sd
    LNHF_PERSON_SD; the same person deviation as `hrv_rmssd`) + occasion error (sd
    LNHF_NOISE). Source: Nunan D et al. Pacing Clin Electrophysiol 2010;33:1407-17 (HF
    657 ms^2); reliability Uhlig S et al. Biol Psychol 2020;154:107905.
    """
    dev = _ln_rmssd_mean(states) - math.log(RMSSD_REF_MS)
    return LNHF_REF + LNHF_PER_LN_RMSSD * dev + _error(rng, "hrv_lnhf", LNHF_NOISE, "hrv_person", LNHF_PERSON_SD)


def _ppt(states: States, rng: RngNormals) -> np.ndarray:
    """Pressure pain threshold by algometry, kg/cm^2 (log-normal).

    ln PPT = ln PPT_REF - PPT_CENTRAL_GAIN (central_gain - ref) + PPT_DESCENDING_INHIBITION
    (descending_inhibition - ref) + person error (sd PRESSURE_PERSON_LOG_SD) + occasion
    error (sd PPT_LOG_NOISE), both on the log scale.
    Source: Fischer AA. Pain 1987;30:115-26 (algometer norms); 4 kg/cm^2 tender-point
    threshold of Wolfe F et al. Arthritis Rheum 1990;33:160-72; reliability Chesterton LS
    et al. Clin J Pain 2007;23:760-6.
    """
    ln = (math.log(PPT_REF) - PPT_CENTRAL_GAIN * (states["central_gain"] - CENTRAL_GAIN_REF)
          + PPT_DESCENDING_INHIBITION * (states["descending_inhibition"] - DESCENDING_INHIBITION_REF))
    return np.exp(ln + _error(rng, "pressure_pain_threshold", PPT_LOG_NOISE, "pressure_person",
                              PRESSURE_PERSON_LOG_SD))


def pressure_sensitivity(central_gain: np.ndarray, peripheral: np.ndarray) -> np.ndarray:
    """Multiplicative sensitivity of the pressure stimulus-response (1 at rest)."""
    return np.exp(SR_CENTRAL_GAIN * (central_gain - CENTRAL_GAIN_REF)
                  + SR_PERIPHERAL * (peripheral - PERIPHERAL_REF))


def evoked_pain(pressure: np.ndarray, central_gain: np.ndarray, peripheral: np.ndarray) -> np.ndarray:
    """Pain (NRS 0-10) evoked by a pressure (kg/cm^2): a Hill-type stimulus-response.

    pain = 10 x^b / (1 + x^b), x = pressure * sensitivity / SR_HALF_MAX, b = SR_EXPONENT.
    """
    x = np.asarray(pressure) * pressure_sensitivity(central_gain, peripheral) / SR_HALF_MAX
    xb = x ** SR_EXPONENT
    return 10.0 * xb / (1.0 + xb)


def _evoked_pain_nrs(states: States, rng: RngNormals, pressure: float = EVOKED_PRESSURE) -> np.ndarray:
    """Pain rating (NRS 0-10) to a pressure stimulus of fixed intensity (kg/cm^2, option `pressure`).

    :func:`evoked_pain` at the given pressure, with the person's pressure sensitivity
    deviation (sd PRESSURE_PERSON_LOG_SD, the same person deviation as the pressure
    measures: a person who needs more pressure feels less at a fixed one) and an occasion
    rating error (sd EVOKED_NRS_NOISE). Source: stimulus-response pressure paradigm of
    Gracely RH et al. Arthritis Rheum 2002;46:1333-43; fixed-intensity ratings as in
    Petzke F et al. Pain 2003;105:403-13.
    """
    if not (np.isfinite(pressure) and pressure > 0):
        raise DataError(f"evoked_pain_nrs: the stimulus pressure must be a positive number of kg/cm^2, "
                        f"got {pressure!r}")
    person = PRESSURE_PERSON_LOG_SD * rng("pressure_person", per_patient=True)
    felt = pressure * np.exp(-person)
    pain = evoked_pain(felt, states["central_gain"], _peripheral(states))
    return pain + EVOKED_NRS_NOISE * rng("evoked_pain_nrs")


def _peripheral(states: States) -> np.ndarray:
    return _mean_present(states, ("nociception", "drg"), fallback="nociception")


def _pressure_for_equal_pain(states: States, rng: RngNormals) -> np.ndarray:
    """Pressure (kg/cm^2) that evokes pain EQUAL_PAIN_NRS, log-normal.

    The inverse of :func:`evoked_pain`: SR_HALF_MAX (L / (10 - L))^(1/b) / sensitivity,
    sensitivity rising with central gain and with peripheral sensitisation (mean of
    nociception and drg, whichever the theory has), + person error (sd
    PRESSURE_PERSON_LOG_SD, the same person deviation as the pressure pain threshold) +
    occasion error (sd SR_LOG_NOISE), both on the log scale.
    Source: stimulus-response pressure paradigm of Gracely RH et al. Arthritis Rheum
    2002;46:1333-43.
    """
    level = EQUAL_PAIN_NRS
    base = SR_HALF_MAX * (level / (10.0 - level)) ** (1.0 / SR_EXPONENT)
    p = base / pressure_sensitivity(states["central_gain"], _peripheral(states))
    return p * np.exp(_error(rng, "pressure_for_equal_pain", SR_LOG_NOISE, "pressure_person",
                             PRESSURE_PERSON_LOG_SD))


def _cpm(states: States, rng: RngNormals) -> np.ndarray:
    """Conditioned pain modulation: % reduction of test-stimulus pain during conditioning.

    CPM = CPM_PCT_PER_UNIT * descending_inhibition + person error (sd CPM_PERSON_SD) +
    occasion error (sd CPM_NOISE); positive = inhibition. Source: Yarnitsky D et al. Eur
    J Pain 2015;19:805-6 (CPM protocol); O'Brien AT et al. J Pain 2018;19:819-36;
    reliability Kennedy DL et al. Pain 2016;157:2410-19.
    """
    return (CPM_PCT_PER_UNIT * states["descending_inhibition"]
            + _error(rng, "cpm_effect", CPM_NOISE, "cpm_person", CPM_PERSON_SD))


def _temporal_summation(states: States, rng: RngNormals) -> np.ndarray:
    """Temporal summation: pain rise (NRS points) from the 1st to the 10th stimulus.

    TS = TS_PER_UNIT * central_gain + person error (sd TS_PERSON_SD) + occasion error
    (sd TS_NOISE). Source: Staud R et al. Pain 2001;91:165-75 (wind-up in FM); O'Brien AT
    et al. J Pain 2018;19:819-36; reliability Kong JT et al. J Pain 2013;14:79-88.
    """
    return (TS_PER_UNIT * states["central_gain"]
            + _error(rng, "temporal_summation", TS_NOISE, "temporal_summation_person", TS_PERSON_SD))


def _ienfd_value(states: States, rng: RngNormals) -> np.ndarray:
    person = IENFD_BETWEEN_SD * rng("ienfd_person", per_patient=True)
    value = (IENFD_MEAN + person) * (1.0 - IENFD_LOSS_PER_UNIT * states["small_fibre"])
    return _finish(value + IENFD_NOISE * rng("ienfd"), IENFD_BOUNDS)


def _ienfd(states: States, rng: RngNormals) -> np.ndarray:
    """Intraepidermal nerve fibre density at the distal leg, fibres/mm.

    IENFD = (IENFD_MEAN + person) * (1 - IENFD_LOSS_PER_UNIT * small_fibre) + noise,
    where `person` is a persistent per-patient normative deviation (sd IENFD_BETWEEN_SD,
    fixed over time) and noise the biopsy's sampling error (sd IENFD_NOISE). With
    ``noise=False`` both are zero. Source: Lauria G et al. J Peripher Nerv Syst
    2010;15:202-7 (normative distal-leg IENFD); Grayston R et al. Semin Arthritis Rheum
    2019;48:933-40.
    """
    return _ienfd_value(states, rng)


def ienfd_pathology(ienfd: np.ndarray, cutoff: float = IENFD_PATHOLOGY_CUTOFF) -> np.ndarray:
    """1.0 where IENFD is below `cutoff` (fibres/mm), else 0.0."""
    return (np.asarray(ienfd) < cutoff).astype(float)


def _ienfd_pathology(states: States, rng: RngNormals, cutoff: float = IENFD_PATHOLOGY_CUTOFF) -> np.ndarray:
    """Small fibre pathology (0/1): measured IENFD below `cutoff`.

    The default cutoff, IENFD_PATHOLOGY_CUTOFF (about 4.6 fibres/mm), is the 5th
    percentile of the normative distribution; the targets (B31) define it as the 5th
    percentile of simulated controls, so pass ``cutoff=`` computed from them. Uses the
    same measured values as `ienfd`. Source: Grayston R et al. Semin Arthritis Rheum
    2019;48:933-40; Lauria G et al. J Peripher Nerv Syst 2010;15:202-7.
    """
    return ienfd_pathology(_ienfd_value(states, rng), cutoff)


def _psqi(states: States, rng: RngNormals) -> np.ndarray:
    """Pittsburgh Sleep Quality Index global score, 0-21 (integer; > 5 = poor sleeper).

    PSQI = PSQI_BASE + PSQI_PER_UNIT * sleep_disturbance + person error (sd
    PSQI_PERSON_SD) + occasion error (sd PSQI_NOISE). Source: Buysse DJ et al. Psychiatry
    Res 1989;28:193-213; reliability Backhaus J et al. J Psychosom Res 2002;53:737-40.
    """
    return (PSQI_BASE + PSQI_PER_UNIT * states["sleep_disturbance"]
            + _error(rng, "psqi", PSQI_NOISE, "psqi_person", PSQI_PERSON_SD))


def _fatigue_scale(states: States, rng: RngNormals) -> np.ndarray:
    """Fatigue numeric rating, 0-10 (integer).

    10 * fatigue + person error (sd FATIGUE_PERSON_SD) + occasion error (sd
    FATIGUE_NOISE). Source: single-item 0-10 fatigue rating as in the FIQR energy item
    (Bennett 2009) and the Brief Fatigue Inventory (Mendoza TR et al. Cancer
    1999;85:1186-96).
    """
    return (FATIGUE_PER_UNIT * states["fatigue"]
            + _error(rng, "fatigue_scale", FATIGUE_NOISE, "fatigue_person", FATIGUE_PERSON_SD))


def _distress_scale(states: States, rng: RngNormals) -> np.ndarray:
    """Hospital Anxiety and Depression Scale total, 0-42 (integer).

    42 * distress + person error (sd HADS_PERSON_SD) + occasion error (sd HADS_NOISE).
    Source: Zigmond AS, Snaith RP. Acta Psychiatr Scand 1983;67:361-70; reliability
    Bjelland I et al. J Psychosom Res 2002;52:69-77.
    """
    return (HADS_PER_UNIT * states["distress"]
            + _error(rng, "distress_scale", HADS_NOISE, "distress_person", HADS_PERSON_SD))


def _self_compassion(states: States, rng: RngNormals) -> np.ndarray:
    """Self-Compassion Scale mean score, 1-5.

    1 + 4 * soothing + occasion error (sd SCS_NOISE, the scale's SEM). Source: Neff KD.
    Self and Identity 2003;2:223-50.
    """
    return SCS_MIN + SCS_PER_UNIT * states["soothing"] + SCS_NOISE * rng("self_compassion")


def _summary(fn: Callable[..., np.ndarray]) -> str:
    return (fn.__doc__ or "").strip().splitlines()[0]


def _source(fn: Callable[..., np.ndarray]) -> str:
    doc = " ".join((fn.__doc__ or "").split())
    return doc.split("Source: ", 1)[1] if "Source: " in doc else ""


def _instrument(name: str, units: str, states: tuple[str, ...], fn: Callable[..., np.ndarray],
                noise: float, bounds: tuple[float, float], **kw: Any) -> Instrument:
    return Instrument(name=name, units=units, states=states, description=_summary(fn), source=_source(fn),
                      noise=noise, fn=fn, bounds=bounds, **kw)


_ACR_STATES = ("pain", "central_gain", "fatigue", "sleep_disturbance")
_ACR_OPTIONAL = ("salience", "distress")

#: the built-in instruments by name
INSTRUMENTS: dict[str, Instrument] = {i.name: i for i in [
    _instrument("pain_nrs", "NRS 0-10", ("pain",), _pain_nrs, PAIN_NRS_NOISE, (0, 10), integer=True,
                person_noise=PAIN_NRS_PERSON_SD),
    _instrument("fiqr", "FIQR points 0-100", ("pain", "fatigue", "sleep_disturbance", "activity"), _fiqr,
                FIQR_NOISE, (0, 100), optional=("distress",), person_noise=FIQR_PERSON_SD),
    _instrument("wpi", "painful sites 0-19", ("pain", "central_gain"), _wpi, WPI_NOISE, (0, WPI_MAX), integer=True),
    _instrument("sss", "SSS points 0-12", ("central_gain", "fatigue", "sleep_disturbance"), _sss, SSS_NOISE,
                (0, SSS_MAX), integer=True,
                optional=_ACR_OPTIONAL),
    _instrument("acr2016_case", "case (0/1)", _ACR_STATES, _acr2016_daily, 0.0, (0, 1), integer=True,
                optional=_ACR_OPTIONAL, history_days=ACR_HISTORY_DAYS, persistence=ACR_PERSISTENCE),
    _instrument("hrv_rmssd", "ms", ("vagal", "sympathetic"), _hrv_rmssd, RMSSD_LOG_NOISE, RMSSD_BOUNDS,
                noise_scale="log", person_noise=RMSSD_PERSON_LOG_SD),
    _instrument("hrv_lnhf", "ln(ms^2)", ("vagal", "sympathetic"), _hrv_lnhf, LNHF_NOISE, LNHF_BOUNDS,
                person_noise=LNHF_PERSON_SD),
    _instrument("pressure_pain_threshold", "kg/cm^2", ("central_gain", "descending_inhibition"), _ppt,
                PPT_LOG_NOISE, PRESSURE_BOUNDS, noise_scale="log", person_noise=PRESSURE_PERSON_LOG_SD),
    _instrument("pressure_for_equal_pain", "kg/cm^2", ("central_gain", "nociception"),
                _pressure_for_equal_pain, SR_LOG_NOISE, PRESSURE_BOUNDS, optional=("drg",),
                noise_scale="log", person_noise=PRESSURE_PERSON_LOG_SD),
    _instrument("evoked_pain_nrs", "NRS 0-10", ("central_gain", "nociception"), _evoked_pain_nrs,
                EVOKED_NRS_NOISE, (0, 10), optional=("drg",), options=("pressure",),
                person_noise=PRESSURE_PERSON_LOG_SD),
    _instrument("cpm_effect", "% reduction of test pain", ("descending_inhibition",), _cpm, CPM_NOISE,
                (-100, 100), person_noise=CPM_PERSON_SD),
    _instrument("temporal_summation", "NRS points", ("central_gain",), _temporal_summation, TS_NOISE,
                (-10, 10), person_noise=TS_PERSON_SD),
    _instrument("ienfd", "fibres/mm", ("small_fibre",), _ienfd, IENFD_NOISE, IENFD_BOUNDS,
                person_noise=IENFD_BETWEEN_SD),
    _instrument("ienfd_pathology", "pathology (0/1)", ("small_fibre",), _ienfd_pathology, IENFD_NOISE, (0, 1),
                integer=True, options=("cutoff",)),
    _instrument("psqi", "PSQI points 0-21", ("sleep_disturbance",), _psqi, PSQI_NOISE, (0, 21), integer=True,
                person_noise=PSQI_PERSON_SD),
    _instrument("fatigue_scale", "NRS 0-10", ("fatigue",), _fatigue_scale, FATIGUE_NOISE, (0, 10),
                integer=True, person_noise=FATIGUE_PERSON_SD),
    _instrument("distress_scale", "HADS points 0-42", ("distress",), _distress_scale, HADS_NOISE, (0, 42),
                integer=True, person_noise=HADS_PERSON_SD),
    _instrument("self_compassion", "SCS mean 1-5", ("soothing",), _self_compassion, SCS_NOISE, (1, 5)),
]}


# ----------------------------------------------------------------------------- public API


def _get(name: str) -> Instrument:
    if name not in INSTRUMENTS:
        raise DataError(f"unknown instrument {name!r}." + did_you_mean(name, INSTRUMENTS)
                        + " Instruments: " + ", ".join(INSTRUMENTS))
    return INSTRUMENTS[name]


def combination(name: str, weights: Mapping[str, float], noise: float = 0.0) -> Instrument:
    """An instrument that reads a stated weighted sum of states (a questionnaire a theory has no state for).

    value = sum of weight * state (states are activations in [0, 1]) + occasion error of sd
    `noise` (same units), drawn from the ``combination`` stream. The mapping is the target
    author's claim, not a published scale: its source says so.
    """
    if not weights:
        raise DataError(f"the combination {name!r} reads no state")
    w = dict(weights)

    def fn(states: States, rng: RngNormals) -> np.ndarray:
        value = sum(weight * states[s] for s, weight in w.items())
        return value + noise * rng("combination")

    text = " + ".join(f"{weight:g} {s}" for s, weight in w.items())
    return Instrument(name=name, units="weighted sum of states", states=tuple(w),
                      description=f"stated combination {text}", source="the mapping stated in the target file",
                      noise=float(noise), fn=fn)


def expressible(state_names: Collection[str], name: str | Instrument) -> tuple[bool, str]:
    """Whether a theory with these states can express instrument `name`, and why (not).

    Returns ``(True, "")`` or ``(True, note)`` when optional states are missing and the
    instrument falls back; ``(False, reason)`` naming the missing states.
    """
    inst = name if isinstance(name, Instrument) else _get(name)
    name = inst.name
    have = set(map(str, state_names))
    missing = [s for s in inst.states if s not in have]
    if missing:
        names = ", ".join(repr(s) for s in missing)
        return False, (f"not expressible: model has no {names} state{'s' if len(missing) > 1 else ''} "
                       f"(instrument {name!r} needs {', '.join(inst.states)})")
    absent = [s for s in inst.optional if s not in have]
    if absent:
        return True, f"optional state(s) {', '.join(map(repr, absent))} absent; {name!r} uses its fallback"
    return True, ""


class _Normals:
    """Standard normals per named stream at given time indices, for given patients."""

    def __init__(self, seed: int, ids: np.ndarray, tidx: np.ndarray, on: bool):
        self.seed, self.ids, self.tidx, self.on = seed, ids, tidx, on

    def __call__(self, stream: str, per_patient: bool = False) -> np.ndarray:
        n, tidx = len(self.ids), self.tidx
        if not self.on or n == 0:
            return np.zeros((n, 1 if per_patient else len(tidx)))
        base = OBSERVE_COUNTER_BASE + STREAMS[stream] * STREAM_STRIDE
        if per_patient:
            return normals(self.seed, self.ids, "observe", 1, offset=base)
        lo, hi = int(tidx.min()), int(tidx.max())
        if hi - lo + 1 <= 4 * len(tidx):  # dense: one contiguous draw
            return normals(self.seed, self.ids, "observe", hi - lo + 1, offset=base + lo)[:, tidx - lo]
        cols = {int(t): normals(self.seed, self.ids, "observe", 1, offset=base + int(t))[:, 0]
                for t in np.unique(tidx)}
        return np.stack([cols[int(t)] for t in tidx], axis=1)


def _time_indices(times: np.ndarray, time: Any) -> tuple[np.ndarray, bool]:
    """Indices into the recorded grid of the requested times (nearest), and scalar-ness."""
    if time is None:
        return np.arange(len(times)), False
    req = np.asarray(time, dtype=float)
    scalar = req.ndim == 0
    req = req.reshape(-1)
    if len(times) == 0 or len(req) == 0:
        raise DataError("no times to measure: the dataset or the requested `time` is empty")
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    tol = 0.5 * step + 1e-9
    bad = req[(req < times[0] - tol) | (req > times[-1] + tol)]
    if len(bad):
        raise DataError(f"time {bad[0]:g} is outside the recorded times {times[0]:g} .. {times[-1]:g} days; "
                        "simulate longer or pick a recorded time")
    idx = np.clip(np.searchsorted(times, req), 1, max(len(times) - 1, 1))
    if len(times) == 1:
        idx = np.zeros(len(req), dtype=int)
    else:
        idx = np.where(np.abs(times[idx - 1] - req) <= np.abs(times[idx] - req), idx - 1, idx)
    return idx.astype(int), scalar


def _persist(daily: np.ndarray, times: np.ndarray, at: np.ndarray, history: float, need: float) -> np.ndarray:
    """1.0 where `daily` is 1 over at least `need` of (t - history, t], for t = times[at]."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    csum = np.concatenate([np.zeros((daily.shape[0], 1)), np.cumsum(daily, axis=1)], axis=1)
    hi = at + 1
    lo = np.searchsorted(times, times[at] - history + 1e-9, side="left")
    frac = (csum[:, hi] - csum[:, lo]) * step / history
    return (frac >= need - 1e-12).astype(float)


def measure(ds: xr.Dataset, name: str | Instrument, *, seed: int | None = None, noise: bool = True, time: Any = None,
            **options: Any) -> xr.DataArray:
    """Measure instrument `name` on a simulated population.

    Parameters
    ----------
    ds
        A simulation result with ``trajectory`` (patient, time, state).
    name
        A key of :data:`INSTRUMENTS`, or an :class:`Instrument` (e.g. a :func:`combination`).
    seed
        Seed of the measurement noise (default: the dataset's ``seed`` attribute).
    noise
        False for the noise-free mapping.
    time
        None (every recorded time), a time in days (result dims ``(patient,)``) or a
        sequence of times; each is taken at the nearest recorded time. Instruments with a
        duration criterion (``acr2016_case``) read the trajectory before it.
    options
        Instrument options (``cutoff=`` for ``ienfd_pathology``).

    Returns
    -------
    xarray.DataArray
        Dims ``(patient, time)`` or ``(patient,)``; attrs ``units``, ``source``, ...
    """
    inst = name if isinstance(name, Instrument) else _get(name)
    name = inst.name
    unknown = sorted(set(options) - set(inst.options))
    if unknown:
        accepted = ", ".join(inst.options) or "none"
        raise DataError(f"instrument {name!r} has no option {unknown[0]!r} (options: {accepted})")
    if "trajectory" not in ds:
        raise DataError(f"instrument {name!r} needs a recorded trajectory, and the dataset has none "
                        f"(variables: {', '.join(map(str, ds.data_vars)) or 'none'}); simulate with record='grid'")
    traj = ds["trajectory"].transpose("patient", "time", "state")
    state_names = [str(s) for s in traj.state.values]
    ok, reason = expressible(state_names, inst)
    if not ok:
        raise DataError(f"instrument {name!r} is {reason}. The dataset has states: {', '.join(state_names)}. "
                        "Measure it on a theory with those states, or choose another instrument.")
    times = np.asarray(traj.time.values, dtype=float)
    idx, scalar = _time_indices(times, time)
    seed = int(ds.attrs.get("seed", 0)) if seed is None else int(seed)
    ids = np.asarray(ds.patient.values)

    if inst.history_days > 0:  # contiguous window reaching history_days before the first time
        lo = int(np.searchsorted(times, times[idx.min()] - inst.history_days + 1e-9, side="left"))
        tidx = np.arange(lo, idx.max() + 1)
    else:
        tidx = np.unique(idx)
    wanted = [s for s in (*inst.states, *inst.optional) if s in state_names]
    sub = traj.isel(time=tidx)
    states: dict[str, np.ndarray] = {s: np.asarray(sub.sel(state=s).values, dtype=float) for s in wanted}
    states[TIME_KEY] = times[tidx]
    values = np.asarray(inst.fn(states, _Normals(seed, ids, tidx, noise), **options), dtype=float)
    values = np.broadcast_to(values, (len(ids), len(tidx)))
    if inst.history_days > 0:
        values = _persist(values, times[tidx], idx - tidx[0], inst.history_days, inst.persistence)
    else:
        values = values[:, np.searchsorted(tidx, idx)]
    values = _finish(values, inst.bounds, inst.integer)

    coords: dict[str, Any] = {"patient": ids}
    if scalar:
        out = xr.DataArray(values[:, 0], dims=("patient",), coords={**coords, "time": times[idx[0]]})
    else:
        out = xr.DataArray(values, dims=("patient", "time"), coords={**coords, "time": times[idx]})
    out.name = name
    out.attrs.update({"units": inst.units, "source": inst.source, "description": inst.description,
                      "noise_sd": inst.noise if noise else 0.0,
                      "person_sd": inst.person_noise if noise else 0.0, "noise_scale": inst.noise_scale,
                      "observation_seed": seed})
    for k, v in options.items():
        out.attrs[k] = v
    return out


def acr2016(ds: xr.Dataset, *, seed: int | None = None, noise: bool = True, time: Any = None) -> xr.Dataset:
    """WPI, SSS and case status per the ACR 2016 revision, as one Dataset.

    The three use the same measured WPI and SSS (see :data:`STREAMS`). Source: Wolfe F
    et al. Semin Arthritis Rheum 2016;46:319-329.
    """
    names = {"wpi": "wpi", "sss": "sss", "case": "acr2016_case"}
    return xr.Dataset({k: measure(ds, v, seed=seed, noise=noise, time=time) for k, v in names.items()})
