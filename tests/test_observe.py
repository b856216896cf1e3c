"""Observations: expression over states, per-patient measurement noise, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from fitts import DataError, compile_model, load_model_text, simulate
from fitts.observe import observe
from tests.helpers import TWO_NODE


def test_observation_is_expression_plus_noise_clipped() -> None:
    model = compile_model(load_model_text(TWO_NODE))
    ds = simulate(model, patients=300, days=5.0, seed=2)
    clean = observe(model, ds, noise=False)["a10"]
    np.testing.assert_allclose(clean.values, 10 * ds.trajectory.sel(state="a").values)
    noisy = observe(model, ds)["a10"]
    assert noisy.attrs["units"] == "score"
    assert noisy.min() >= 0 and noisy.max() <= 10
    resid = (noisy - clean).values
    inside = (noisy.values > 0) & (noisy.values < 10)
    assert abs(resid[inside].std() - 0.5) < 0.05


def test_measurements_reproducible_per_patient() -> None:
    model = compile_model(load_model_text(TWO_NODE))
    ds = simulate(model, patients=10, days=3.0, seed=2)
    whole = observe(model, ds)["a10"].values
    part = observe(model, ds.isel(patient=[3, 7]))["a10"].values
    np.testing.assert_array_equal(whole[[3, 7]], part)


def test_unknown_observation() -> None:
    model = compile_model(load_model_text(TWO_NODE))
    ds = simulate(model, patients=2, days=1.0)
    with pytest.raises(DataError, match="unknown observation 'a1'. Did you mean 'a10'"):
        observe(model, ds, ["a1"])
