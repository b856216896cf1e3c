"""Built-in instruments: monotone mappings, scale ranges, per-patient noise, ACR 2016."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fitts
from fitts import DataError
from fitts.observe import instruments as ins
from fitts.observe.instruments import INSTRUMENTS, acr2016, acr2016_criteria, expressible, measure
from fitts.spec.load import models_dir

ALL_STATES = ("threat", "soothing", "drive", "salience", "sympathetic", "vagal", "hpa", "central_gain",
              "descending_inhibition", "drg", "small_fibre", "nociception", "pain", "fatigue",
              "sleep_disturbance", "distress", "activity")


def make_ds(values: dict[str, np.ndarray | float], *, n_patients: int, days: int = 10, base: float = 0.5,
            states: tuple[str, ...] = ALL_STATES, seed: int = 7, patients: np.ndarray | None = None) -> xr.Dataset:
    """A result-shaped Dataset: states at `base` unless given (arrays broadcast to (patient, time))."""
    n_t = days + 1
    traj = np.full((n_patients, n_t, len(states)), base)
    for k, v in values.items():
        traj[:, :, states.index(k)] = np.broadcast_to(np.asarray(v, dtype=float), (n_patients, n_t))
    ids = np.arange(n_patients) if patients is None else patients
    return xr.Dataset({"trajectory": (("patient", "time", "state"), traj)},
                      coords={"patient": ids, "time": np.arange(n_t, dtype=float), "state": list(states)},
                      attrs={"seed": seed})


def ramp(n: int) -> np.ndarray:
    """0 .. 1 across patients, as a (patient, 1) column."""
    return np.linspace(0.0, 1.0, n)[:, None]


# (instrument, driving state, direction)
MONOTONE = [
    ("pain_nrs", "pain", +1),
    ("fiqr", "pain", +1), ("fiqr", "fatigue", +1), ("fiqr", "sleep_disturbance", +1),
    ("fiqr", "distress", +1), ("fiqr", "activity", -1),
    ("wpi", "pain", +1), ("wpi", "central_gain", +1),
    ("sss", "fatigue", +1), ("sss", "sleep_disturbance", +1), ("sss", "salience", +1),
    ("sss", "distress", +1), ("sss", "central_gain", +1),
    ("acr2016_case", "pain", +1),
    ("hrv_rmssd", "vagal", +1), ("hrv_rmssd", "sympathetic", -1),
    ("hrv_lnhf", "vagal", +1), ("hrv_lnhf", "sympathetic", -1),
    ("pressure_pain_threshold", "central_gain", -1), ("pressure_pain_threshold", "descending_inhibition", +1),
    ("pressure_for_equal_pain", "central_gain", -1), ("pressure_for_equal_pain", "nociception", -1),
    ("pressure_for_equal_pain", "drg", -1),
    ("evoked_pain_nrs", "central_gain", +1), ("evoked_pain_nrs", "nociception", +1), ("evoked_pain_nrs", "drg", +1),
    ("cpm_effect", "descending_inhibition", +1),
    ("temporal_summation", "central_gain", +1),
    ("ienfd", "small_fibre", -1), ("ienfd_pathology", "small_fibre", +1),
    ("psqi", "sleep_disturbance", +1),
    ("fatigue_scale", "fatigue", +1),
    ("distress_scale", "distress", +1),
    ("self_compassion", "soothing", +1),
]


def test_every_instrument_has_a_monotonicity_case() -> None:
    assert {m[0] for m in MONOTONE} == set(INSTRUMENTS)


@pytest.mark.parametrize(("name", "state", "sign"), MONOTONE)
def test_monotone_in_driving_state(name: str, state: str, sign: int) -> None:
    n = 101
    ds = make_ds({state: ramp(n)}, n_patients=n, days=100, base=0.6)
    v = measure(ds, name, noise=False, time=100.0).values
    steps = sign * np.diff(v)
    assert np.all(steps >= -1e-12), f"{name} not monotone in {state}"
    assert sign * (v[-1] - v[0]) > 0, f"{name} does not change with {state}"


def test_values_respect_scale_ranges_with_noise() -> None:
    rng = np.random.default_rng(0)
    n, days = 400, 30
    values = {s: rng.choice([0.0, 1.0, 0.5, rng.uniform()], size=(n, days + 1)) for s in ALL_STATES}
    ds = make_ds(values, n_patients=n, days=days)
    for name, inst in INSTRUMENTS.items():
        v = measure(ds, name).values
        lo, hi = inst.bounds
        assert np.isfinite(v).all(), name
        assert v.min() >= lo and v.max() <= hi, name
        if inst.integer:
            np.testing.assert_array_equal(v, np.round(v), err_msg=name)
        if inst.noise > 0 and name != "ienfd_pathology":
            assert np.abs(v - measure(ds, name, noise=False).values).max() > 0, f"{name} has no noise"


def test_reproducible_per_patient_and_per_time() -> None:
    rng = np.random.default_rng(1)
    n, days = 12, 120
    values = {s: rng.uniform(0.3, 1.0, size=(n, days + 1)) for s in ALL_STATES}
    ds = make_ds(values, n_patients=n, days=days, patients=np.arange(100, 100 + n))
    sub = ds.isel(patient=[3, 7])
    for name in INSTRUMENTS:
        whole = measure(ds, name)
        np.testing.assert_array_equal(whole.values[[3, 7]], measure(sub, name).values, err_msg=name)
        some = measure(ds, name, time=[5.0, 100.0])
        np.testing.assert_array_equal(whole.sel(time=[5.0, 100.0]).values, some.values, err_msg=name)
        again = measure(ds, name, seed=7)
        np.testing.assert_array_equal(whole.values, again.values, err_msg=name)
    assert not np.array_equal(measure(ds, "pain_nrs", seed=8).values, measure(ds, "pain_nrs").values)


def test_evoked_pain_rises_with_the_stimulus_and_shares_the_pressure_person() -> None:
    ds = make_ds({}, n_patients=200, days=3)
    weak, strong = (measure(ds, "evoked_pain_nrs", noise=False, pressure=p).values for p in (2.0, 6.0))
    assert (strong > weak).all()
    # a person who needs more pressure for the same pain feels less at a fixed pressure
    felt = measure(ds, "evoked_pain_nrs", time=3.0).values
    needed = measure(ds, "pressure_for_equal_pain", time=3.0).values
    assert np.corrcoef(felt, needed)[0, 1] < -0.5
    with pytest.raises(DataError, match="positive"):
        measure(ds, "evoked_pain_nrs", pressure=-1.0)


def test_instruments_draw_from_separate_streams() -> None:
    n = 300
    ds = make_ds({}, n_patients=n, days=5)
    resid = {name: measure(ds, name).values - measure(ds, name, noise=False).values
             for name in ("cpm_effect", "temporal_summation", "fiqr")}
    r = np.corrcoef(resid["cpm_effect"].ravel(), resid["temporal_summation"].ravel())[0, 1]
    assert abs(r) < 0.1
    total = np.hypot(ins.CPM_NOISE, ins.CPM_PERSON_SD)  # occasion and person error
    assert resid["cpm_effect"].std() == pytest.approx(total, rel=0.1)


def test_log_normal_noise_sd() -> None:
    ds = make_ds({}, n_patients=2000, days=0)
    noisy = measure(ds, "hrv_rmssd", time=0.0).values
    clean = measure(ds, "hrv_rmssd", time=0.0, noise=False).values
    total = np.hypot(ins.RMSSD_LOG_NOISE, ins.RMSSD_PERSON_LOG_SD)
    assert np.log(noisy / clean).std() == pytest.approx(total, rel=0.1)


@pytest.mark.parametrize("name, occasion, person", [
    ("temporal_summation", ins.TS_NOISE, ins.TS_PERSON_SD),
    ("cpm_effect", ins.CPM_NOISE, ins.CPM_PERSON_SD),
    ("hrv_lnhf", ins.LNHF_NOISE, ins.LNHF_PERSON_SD),
])
def test_person_error_is_stable_and_occasion_error_is_fresh(name, occasion, person) -> None:
    """The person part of the error stays with the patient across occasions; the occasion
    part is drawn anew, so the test-retest correlation of the error is person^2 / total^2."""
    ds = make_ds({}, n_patients=4000, days=30)
    resid = measure(ds, name).values - measure(ds, name, noise=False).values
    first, later = resid[:, 0], resid[:, 20]
    assert (later - first).std() == pytest.approx(np.sqrt(2) * occasion, rel=0.1)
    assert np.corrcoef(first, later)[0, 1] == pytest.approx(person**2 / (person**2 + occasion**2), abs=0.05)
    assert measure(ds, name).attrs["person_sd"] == person


def test_reliability_of_every_scale_is_cited() -> None:
    """Every instrument with measurement error names the source it comes from."""
    for name, inst in INSTRUMENTS.items():
        assert inst.noise >= 0 and inst.person_noise >= 0, name
        assert inst.source, name


def test_pain_and_fiqr_read_published_case_baselines() -> None:
    """Shifted-logit readout: the persistent-pain state (latent pain about 0.9, fatigue and
    sleep disturbance high, activity low) reads a trial-baseline NRS of 6.5-7 and an FIQR
    near the published FM mean (about 55), rest reads near 0, and the readout is monotone."""
    ill = {"pain": 0.9, "fatigue": 0.9, "sleep_disturbance": 0.95, "distress": 0.9, "activity": 0.2}
    rest = {"pain": 0.03, "fatigue": 0.06, "sleep_disturbance": 0.05, "distress": 0.05, "activity": 0.8}
    ds_ill, ds_rest = make_ds(ill, n_patients=2, days=0), make_ds(rest, n_patients=2, days=0)
    nrs = float(measure(ds_ill, "pain_nrs", noise=False, time=0.0)[0])
    assert 6.0 <= nrs <= 7.0
    assert 50 <= float(measure(ds_ill, "fiqr", noise=False, time=0.0)[0]) <= 62
    assert float(measure(ds_rest, "pain_nrs", noise=False, time=0.0)[0]) == 0.0
    assert float(measure(ds_rest, "fiqr", noise=False, time=0.0)[0]) < 5
    x = np.linspace(0, 1, 101)
    y = ins.shifted_logit(x, ins.PAIN_NRS_LOGIT_SHIFT)
    assert y[0] == 0.0 and y[-1] == 1.0 and (np.diff(y) > 0).all()


def test_scalar_time_gives_patient_dim_and_attrs() -> None:
    ds = make_ds({}, n_patients=3, days=10)
    v = measure(ds, "hrv_rmssd", time=4.2)
    assert v.dims == ("patient",)
    assert float(v.time) == 4.0
    assert v.attrs["units"] == "ms"
    assert "Nunan" in v.attrs["source"]
    assert measure(ds, "psqi").dims == ("patient", "time")


def test_normative_values_at_rest() -> None:
    rest = {"vagal": ins.VAGAL_REF, "sympathetic": ins.SYMPATHETIC_REF, "central_gain": ins.CENTRAL_GAIN_REF,
            "descending_inhibition": ins.DESCENDING_INHIBITION_REF, "nociception": ins.PERIPHERAL_REF,
            "drg": ins.PERIPHERAL_REF, "small_fibre": 0.0}
    ds = make_ds(rest, n_patients=2, days=0)
    at = {name: float(measure(ds, name, noise=False, time=0.0)[0]) for name in INSTRUMENTS}
    assert at["hrv_rmssd"] == pytest.approx(42.0)
    assert at["hrv_lnhf"] == pytest.approx(np.log(657.0))
    assert at["pressure_pain_threshold"] == pytest.approx(ins.PPT_REF)
    assert at["ienfd"] == pytest.approx(ins.IENFD_MEAN)
    assert at["ienfd_pathology"] == 0.0


def test_pressure_for_equal_pain_inverts_stimulus_response() -> None:
    n = 50
    ds = make_ds({"central_gain": ramp(n), "nociception": 1 - ramp(n)}, n_patients=n, days=0)
    p = measure(ds, "pressure_for_equal_pain", noise=False, time=0.0).values
    states = ds.trajectory.isel(time=0)
    pain = ins.evoked_pain(p, states.sel(state="central_gain").values,
                           (states.sel(state="nociception").values + states.sel(state="drg").values) / 2)
    np.testing.assert_allclose(pain, ins.EQUAL_PAIN_NRS)


def test_ienfd_pathology_cutoff_option() -> None:
    n = 200
    ds = make_ds({"small_fibre": ramp(n)}, n_patients=n, days=3)
    ienfd = measure(ds, "ienfd").values
    for cutoff in (ins.IENFD_PATHOLOGY_CUTOFF, 6.0):
        path = measure(ds, "ienfd_pathology", cutoff=cutoff)
        np.testing.assert_array_equal(path.values, (ienfd < cutoff).astype(float))
        assert path.attrs["cutoff"] == cutoff
    assert ins.IENFD_PATHOLOGY_CUTOFF == pytest.approx(4.6, abs=0.1)
    with pytest.raises(DataError, match="instrument 'ienfd' has no option 'cutoff' \\(options: none\\)"):
        measure(ds, "ienfd", cutoff=3.0)


def test_ienfd_person_offset_persists_over_time() -> None:
    ds = make_ds({}, n_patients=500, days=20)
    v = measure(ds, "ienfd").values
    # between-person sd dominates within-person (biopsy) noise
    assert v.mean(axis=1).std() > 2 * v.std(axis=1).mean()


# ----------------------------------------------------------------------------- ACR 2016

@pytest.mark.parametrize(("wpi", "sss", "regions", "case"), [
    (7, 5, 4, 1.0),   # the main rule at its edge
    (6, 8, 5, 0.0),   # WPI 4-6 needs SSS >= 9
    (4, 9, 4, 1.0),   # the second rule at its edge
    (3, 12, 5, 0.0),  # WPI too low
    (7, 4, 5, 0.0),   # SSS too low
    (19, 12, 3, 0.0),  # pain not generalized
])
def test_acr2016_criteria(wpi: int, sss: int, regions: int, case: float) -> None:
    assert acr2016_criteria(np.array([wpi]), np.array([sss]), np.array([regions]))[0] == case


def _acr_states(pain_sites: int, sss_extra: float) -> dict[str, float]:
    """Noise-free states giving WPI = pain_sites (central gain 1) and SSS = 3 * (1 + sss_extra)."""
    # SSS = 3 (fatigue + sleep + cognitive + somatic); cognitive = mean(salience, distress) = 0.5,
    # somatic = mean(central_gain, distress) = 0.5
    return {"pain": pain_sites / 19, "central_gain": 1.0, "salience": 1.0, "distress": 0.0,
            "fatigue": sss_extra / 2, "sleep_disturbance": sss_extra / 2}


@pytest.mark.parametrize(("wpi", "sss", "case"), [(7, 5, 1.0), (6, 8, 0.0), (4, 9, 1.0)])
def test_acr2016_case_edges_through_states(wpi: int, sss: int, case: float) -> None:
    ds = make_ds(_acr_states(wpi, sss / 3 - 1), n_patients=1, days=120)
    out = acr2016(ds, noise=False, time=120.0)
    assert float(out.wpi[0]) == wpi
    assert float(out.sss[0]) == sss
    assert float(out.case[0]) == case


def test_acr2016_case_needs_three_months() -> None:
    high = dict.fromkeys(ALL_STATES, 0.9)
    low = dict.fromkeys(ALL_STATES, 0.1)
    days = 200

    def onset(day: float) -> xr.Dataset:
        t = np.arange(days + 1)[None, :]
        return make_ds({s: np.where(t >= day, high[s], low[s]) for s in ALL_STATES}, n_patients=1, days=days)

    def case(ds: xr.Dataset, t: float) -> float:
        return float(measure(ds, "acr2016_case", noise=False, time=t)[0])

    assert case(onset(0), 60.0) == 0.0  # the recording is shorter than 3 months
    assert case(onset(0), 100.0) == 1.0
    assert case(onset(days - 59), days) == 0.0  # criteria met for 60 days only
    need = int(np.ceil(ins.ACR_PERSISTENCE * ins.ACR_HISTORY_DAYS))
    assert case(onset(days - need + 1), days) == 1.0  # met on 80 % of the window
    assert case(onset(days - need + 2), days) == 0.0
    daily = measure(onset(days - 59), "wpi", noise=False).values[0]
    assert daily[-1] >= 7 and daily[0] < 4


def test_acr2016_case_uses_measured_wpi_and_sss() -> None:
    rng = np.random.default_rng(3)
    n, days = 200, 100
    ds = make_ds({s: rng.uniform(0.4, 0.9, size=(n, 1)) for s in ALL_STATES}, n_patients=n, days=days)
    out = acr2016(ds)
    regions = ins.generalized_regions(out.wpi.values, ds.trajectory.sel(state="central_gain").values)
    daily = acr2016_criteria(out.wpi.values, out.sss.values, regions)
    expected = (daily[:, 11:].mean(axis=1) >= ins.ACR_PERSISTENCE).astype(float)
    np.testing.assert_array_equal(out.case.values[:, -1], expected)
    assert 0 < expected.mean() < 1


def test_generalized_regions_widespreadness() -> None:
    wpi = np.array([19.0, 7.0, 7.0, 4.0, 0.0])
    cg = np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(ins.generalized_regions(wpi, cg), [5, 2, 5, 4, 0])


# ----------------------------------------------------------------------------- expressibility and errors

def test_expressible_without_soothing() -> None:
    states = [s for s in ALL_STATES if s != "soothing"]
    ok, reason = expressible(states, "self_compassion")
    assert not ok
    assert "not expressible: model has no 'soothing' state" in reason
    assert expressible(states, "pain_nrs") == (True, "")


def test_optional_states_fall_back() -> None:
    drg_theory = [s for s in ALL_STATES if s not in ("threat", "soothing", "salience", "distress", "drive")]
    ok, reason = expressible(drg_theory, "acr2016_case")
    assert ok and "'salience', 'distress' absent" in reason
    ds = make_ds({"pain": 0.8}, n_patients=4, days=5, states=tuple(drg_theory))
    assert measure(ds, "sss", noise=False).notnull().all()
    assert measure(ds, "fiqr", noise=False).notnull().all()
    assert not expressible(drg_theory, "distress_scale")[0]


def test_measure_missing_state_raises() -> None:
    ds = make_ds({}, n_patients=2, days=3, states=tuple(s for s in ALL_STATES if s != "soothing"))
    with pytest.raises(DataError, match="'self_compassion' is not expressible: model has no 'soothing' state"):
        measure(ds, "self_compassion")


def test_measure_errors() -> None:
    ds = make_ds({}, n_patients=2, days=3)
    with pytest.raises(DataError, match="unknown instrument 'psq'. Did you mean 'psqi'"):
        measure(ds, "psq")
    with pytest.raises(DataError, match="time 10 is outside the recorded times 0 .. 3 days"):
        measure(ds, "psqi", time=10.0)
    with pytest.raises(DataError, match="needs a recorded trajectory"):
        measure(ds.drop_vars("trajectory"), "psqi")


def test_registry_entries_document_themselves() -> None:
    for name, inst in INSTRUMENTS.items():
        assert inst.name == name
        assert inst.units and inst.description and inst.source, name
        assert inst.noise >= 0
        assert set(inst.states) <= set(ALL_STATES) and set(inst.optional) <= set(ALL_STATES)


# ----------------------------------------------------------------------------- on a simulation

def test_every_instrument_on_a_simulated_population() -> None:
    ds = fitts.simulate(models_dir() / "examples" / "mobile16.yaml", patients=20, days=100, backend="numpy",
                        seed=4)
    states = [str(s) for s in ds.state.values]
    for name, inst in INSTRUMENTS.items():
        assert expressible(states, name)[0], name
        v = measure(ds, name)
        assert v.shape == (20, ds.sizes["time"]), name
        assert np.isfinite(v.values).all(), name
        assert v.min() >= inst.bounds[0] and v.max() <= inst.bounds[1], name
    assert measure(ds, "acr2016_case", time=100.0).dims == ("patient",)
