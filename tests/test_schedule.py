"""Input schedules: random life events summed per patient, on any time grid."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fitts.sim.schedule import Schedule
from fitts.spec.schema import EventsComponent, StepComponent


def _dense(schedule: Schedule, t: np.ndarray) -> np.ndarray:
    """The inputs from a dense (time x event) mask: the reference, memory-hungry form."""
    out = np.empty((len(t), schedule.n_inputs, schedule.n))
    out[:] = schedule.defaults[None, :, None]
    for j, comp in schedule.fixed:
        out[:, j, :] += np.where((t >= comp.start) & (t < (comp.end or np.inf)), comp.level, 0.0)[:, None]
    for ev in schedule.events:
        active = (t[:, None] >= ev.start) & (t[:, None] < ev.stop)
        target = np.zeros((schedule.n, len(t)))
        np.add.at(target, ev.patient_pos, (active * ev.magnitude).T)
        out[:, ev.input_index, :] += target.T
    return out


@settings(max_examples=40)
@given(rate=st.floats(1.0, 200.0), duration=st.floats(0.05, 60.0), t0=st.floats(0.0, 300.0),
       span=st.floats(0.0, 40.0), steps=st.integers(1, 400), seed=st.integers(0, 2**32 - 1))
def test_events_sum_exactly_as_a_dense_mask(rate: float, duration: float, t0: float, span: float, steps: int,
                                            seed: int) -> None:
    comps = [
        EventsComponent(input="stress", kind="events", rate_per_year=rate, duration=duration,
                        magnitude={"dist": "lognormal", "median": 1.0, "sigma": 0.5}),
        EventsComponent(input="stress", kind="events", rate_per_year=rate / 3, duration=2 * duration,
                        magnitude=0.7, start=10.0),
        EventsComponent(input="infection", kind="events", rate_per_year=rate / 2, duration=duration / 2),
        StepComponent(input="stress", kind="step", start=5.0, level=0.25),
    ]
    schedule = Schedule(comps, ["stress", "infection"], np.array([0.1, 0.0]), seed, np.arange(7, 23), 400.0)
    t = t0 + np.linspace(0.0, span, steps)
    got = schedule.evaluate(t)
    assert got.shape == (steps, 2, 16)
    np.testing.assert_array_equal(got, _dense(schedule, t))  # same values, summed in the same order
