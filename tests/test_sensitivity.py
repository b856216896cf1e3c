"""Global sensitivity (fitts.analysis.sensitivity, `fitts sensitivity`) on known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fitts
from fitts.analysis.sensitivity import problem, sampled_parameters, sensitivity, to_parameters
from fitts.errors import ModelError
from fitts.spec.load import models_dir
from tests.test_cli_patient import run

ISHIGAMI = models_dir() / "examples" / "ishigami.yaml"
#: closed-form indices of the Ishigami function with a = 7, b = 0.1 (Saltelli et al. 2008)
S1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
ST = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}

ONE_PARAMETER = """
fitts: 1
name: one_parameter
parameters:
  a: {prior: {dist: normal, mean: 0, sd: 1}}
  b: {prior: {dist: lognormal, median: 1, sigma: 0.5}}
  c: {prior: {dist: uniform, low: 0, high: 2}}
nodes:
  y: {tau: 1.0, baseline: 0.0, noise: 0.0, initial: 0.0, bounds: [-.inf, .inf], rate: "a ** 3 + a"}
"""


@pytest.fixture(scope="module")
def ishigami() -> fitts.CompiledModel:
    return fitts.compile_model(fitts.load_model(ISHIGAMI))


def test_ishigami_sobol_indices_fall_within_their_intervals(ishigami) -> None:
    res = sensitivity(ishigami, outcome="state:y", method="sobol", samples=1024, days=1.0, dt=1.0,
                      backend="numpy")
    assert res.runs == 1024 * 8
    for name in ("x1", "x2", "x3"):
        row = res.indices.loc[name]
        assert abs(row["S1"] - S1[name]) <= row["S1_conf"], (name, row["S1"])
        assert abs(row["ST"] - ST[name]) <= row["ST_conf"], (name, row["ST"])
    assert res.second_order.loc["x1", "x3"] == pytest.approx(0.2437, abs=0.1)
    assert list(res.indices.index) == ["x1", "x2", "x3"]  # sorted by ST
    assert list(res.convergence["runs"]) == [1024, 2048, 4096, 8192]
    # the samples are the Ishigami inputs and outputs, row by row
    s = res.samples
    f = np.sin(s.x1) + 7 * np.sin(s.x2) ** 2 + 0.1 * s.x3 ** 4 * np.sin(s.x1)
    np.testing.assert_allclose(s.outcome, f, rtol=1e-12, atol=1e-12)


def test_sobol_with_one_seed_gives_identical_indices(ishigami) -> None:
    """The scrambled Sobol' sample and the bootstrap intervals both follow `seed`."""
    def run_with(seed: int):
        return sensitivity(ishigami, outcome="state:y", method="sobol", samples=64, days=1.0, dt=1.0, seed=seed,
                           backend="numpy")

    a, b, c = run_with(5), run_with(5), run_with(6)
    pd.testing.assert_frame_equal(a.samples, b.samples, check_exact=True)
    pd.testing.assert_frame_equal(a.indices, b.indices, check_exact=True)  # S1, ST and their intervals
    pd.testing.assert_frame_equal(a.second_order, b.second_order, check_exact=True)
    pd.testing.assert_frame_equal(a.convergence, b.convergence, check_exact=True)
    assert not np.allclose(a.samples["x1"], c.samples["x1"])  # another seed, another scramble
    assert not np.allclose(a.indices["ST_conf"], c.indices.loc[a.indices.index, "ST_conf"])


def test_an_outcome_of_one_parameter_is_attributed_to_it_alone(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(ONE_PARAMETER)
    m = fitts.compile_model(fitts.load_model(tmp_path / "one.yaml"))
    morris = sensitivity(m, outcome="state:y", method="morris", samples=30, days=1.0, dt=1.0, backend="numpy")
    assert morris.indices.loc["a", "mu_star"] > 0.5
    assert morris.indices.loc["b", "mu_star"] == 0.0 and morris.indices.loc["c", "mu_star"] == 0.0
    sobol = sensitivity(m, outcome="state:y", method="sobol", samples=512, days=1.0, dt=1.0, backend="numpy")
    assert sobol.indices.loc["a", "ST"] == pytest.approx(1.0, abs=0.05)
    assert abs(sobol.indices.loc["b", "ST"]) < 0.01 and abs(sobol.indices.loc["c", "ST"]) < 0.01


def test_priors_are_mapped_through_their_quantiles(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(ONE_PARAMETER)
    m = fitts.compile_model(fitts.load_model(tmp_path / "one.yaml"))
    names = sampled_parameters(m, ["a", "b", "c"])
    assert problem(m, names)["bounds"] == [[0.0, 1.0]] * 3
    v = to_parameters(m, names, np.array([[0.5, 0.5, 0.5], [0.975, 0.975, 0.25]]))
    np.testing.assert_allclose(v["a"], [0.0, 1.959964], atol=1e-5)
    np.testing.assert_allclose(v["b"], [1.0, np.exp(0.5 * 1.959964)], rtol=1e-5)
    np.testing.assert_allclose(v["c"], [1.0, 0.5])


def test_errors_before_any_work(ishigami) -> None:
    with pytest.raises(ModelError, match="no sampled parameter .* matches 'z\\*'"):
        sampled_parameters(ishigami, ["z*"])
    with pytest.raises(ModelError, match="unknown outcome 'state:q'"):
        sensitivity(ishigami, outcome="state:q", backend="numpy")
    with pytest.raises(ModelError, match="`ill` needs a `pain` state"):
        sensitivity(ishigami, outcome="ill", backend="numpy")
    with pytest.raises(ModelError, match="unknown method"):
        sensitivity(ishigami, outcome="state:y", method="fast", backend="numpy")


def test_a_constant_outcome_is_an_error_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "flat.yaml").write_text(ONE_PARAMETER.replace('rate: "a ** 3 + a"', 'rate: "1"'))
    m = fitts.compile_model(fitts.load_model(tmp_path / "flat.yaml"))
    with pytest.raises(ModelError, match="the same .* for every sample"):
        sensitivity(m, outcome="state:y", method="morris", samples=4, days=1.0, dt=1.0, backend="numpy")


def test_the_command_on_a_theory_writes_its_files(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "sensitivity", "fitts", "--params", "early_adversity,pain_sensitivity,threat_bias",
                         "--method", "morris", "--samples", "6", "--days", "300", "--outcome", "pain",
                         "--backend", "numpy", "--out", tmp_path / "s")
    assert code == 0, err
    indices = pd.read_csv(tmp_path / "s" / "indices.csv")
    assert set(indices["parameter"]) == {"early_adversity", "pain_sensitivity", "threat_bias"}
    assert (indices["mu_star"] > 0).any()
    samples = pd.read_parquet(tmp_path / "s" / "samples.parquet")
    assert len(samples) == 6 * 4 and samples["outcome"].between(0, 1).all()
    assert (tmp_path / "s" / "sensitivity.png").stat().st_size > 0


@pytest.mark.slow
def test_worker_processes_give_the_same_indices(tmp_path: Path, capsys) -> None:
    args = ["sensitivity", "fitts", "--params", "early_adversity,pain_sensitivity,threat_bias", "--method", "morris",
            "--samples", "4", "--days", "300", "--outcome", "pain", "--backend", "numpy"]
    code, _out, err = run(capsys, *args, "--out", tmp_path / "one")
    assert code == 0, err
    code, _out, err = run(capsys, *args, "--workers", "2", "--out", tmp_path / "two")
    assert code == 0, err
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one" / "samples.parquet"),
                                  pd.read_parquet(tmp_path / "two" / "samples.parquet"))
    assert not (tmp_path / "two" / "runs").exists()
