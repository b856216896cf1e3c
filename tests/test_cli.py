"""The `fitts` command: exit codes, messages and files.

Commands run in this process through click's `CliRunner` around the console script's
`main` (the same error handling and exit codes, without paying Python's start-up and
imports for every call); a few smoke tests run the real command in a subprocess.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from fitts.cli import main
from fitts.spec.load import models_dir

DEMO_MODEL = str(models_dir() / "examples" / "mobile16.yaml")

TINY = """\
name: tiny
nodes:
  a: {tau: 1.0, baseline: -1.0, noise: 0.05}
  b: {tau: 2.0, baseline: 0.0}
inputs:
  stress: {units: a.u.}
edges:
  - {from: a, to: b, sign: '+', weight: 2.0, source: "Doe 2020", grade: plausible}
  - {from: b, to: a, sign: '-', weight: {dist: normal, mean: -1, sd: 0.2, bounds: [-.inf, 0]}}
  - {from: stress, to: a, sign: '+', weight: 1.5}
interventions:
  calm: {actions: [{clamp: a, value: 0.0}]}
"""


@dataclass(frozen=True)
class Run:
    """What a command left: exit code and the text it wrote to stdout and stderr."""

    returncode: int
    stdout: str
    stderr: str


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _entry(args: tuple[str, ...]) -> None:
    main(list(args))


def fitts_cmd(*args: str | Path, cwd: Path) -> Run:
    """Run `fitts ARGS` in this process, in folder `cwd`, through the console script's `main`.

    As with the real command: stdout and stderr apart, 200 columns, sys.argv set (results
    record the command), warnings not turned into errors.
    """
    from fitts.cli import common

    argv = [str(a) for a in args]
    saved = sys.argv
    sys.argv = ["fitts", *argv]
    # the consoles are module globals: a width fixed by an earlier test in this process
    # (COLUMNS at their creation) would otherwise wrap the tables
    widths = [(c, c._width) for c in (common.out, common.err)]
    try:
        for c, _ in widths:
            c.width = 200
        with contextlib.chdir(cwd), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = CliRunner().invoke(_entry, argv, env={"COLUMNS": "200"}, catch_exceptions=False)
    finally:
        sys.argv = saved
        for c, w in widths:
            c._width = w
    return Run(res.exit_code, res.stdout, res.stderr)


def fitts_subprocess(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m fitts.cli ARGS` (the console script's code path) in `cwd`: smoke tests."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "fitts.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env, check=False)


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    write(tmp_path, {"tiny.yaml": TINY})
    return tmp_path / "tiny.yaml"


def test_validate_ok(tiny: Path) -> None:
    r = fitts_subprocess("validate", "tiny.yaml", cwd=tiny.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("tiny.yaml is valid: tiny, 2 nodes, 3 edges, 0 parameters, hash ")


def test_no_arguments_shows_help(tmp_path: Path) -> None:
    r = fitts_subprocess(cwd=tmp_path)
    assert "Usage" in r.stdout + r.stderr
    assert "simulate" in r.stdout + r.stderr


BAD_MODELS = {
    "yaml_syntax": (
        {"m.yaml": "nodes:\n  a: {tau: 1.0\n  b: {tau: 2.0}\n"},
        [r"m\.yaml:3", "YAML syntax error"],
    ),
    "unknown_node": (
        {"m.yaml": "nodes:\n  alpha: {tau: 1.0}\n  beta: {tau: 1.0}\nedges:\n"
                   "  - {from: alpah, to: beta, sign: '+', weight: 1.0}\n"},
        [r"m\.yaml:5", "edge 'alpah -> beta'", "unknown node 'alpah'", "Did you mean 'alpha'"],
    ),
    "duplicate_node": (
        {"m.yaml": "nodes:\n  a: {tau: 1.0}\n  a: {tau: 2.0}\n"},
        [r"m\.yaml:3", "duplicate name 'a'"],
    ),
    "node_and_input_share_a_name": (
        {"m.yaml": "nodes:\n  a: {tau: 1.0}\ninputs:\n  a: {units: x}\n"},
        [r"m\.yaml:4", "input 'a'", "duplicate name 'a'"],
    ),
    "missing_include": (
        {"m.yaml": "includes:\n  - {path: missing_module.yaml}\nnodes:\n  a: {tau: 1.0}\n"},
        [r"m\.yaml:2", "includes #1", "'missing_module.yaml' does not exist"],
    ),
    "include_cycle": (
        {"m.yaml": "includes:\n  - {path: other.yaml}\nnodes:\n  a: {tau: 1.0}\n",
         "other.yaml": "includes:\n  - {path: m.yaml}\nnodes:\n  b: {tau: 1.0}\n"},
        [r"other\.yaml:2", "include cycle", r"m\.yaml -> other\.yaml -> m\.yaml"],
    ),
    "caret_in_rate": (
        {"m.yaml": "nodes:\n  x: {tau: 1.0, rate: 'x ^ 2'}\n"},
        [r"m\.yaml:2", "node 'x'.rate", r"\^", r"use \*\* for powers"],
    ),
    "code_injection_in_rate": (
        {"m.yaml": "nodes:\n  x: {tau: 1.0, rate: \"__import__('os').system('echo hacked')\"}\n"},
        [r"m\.yaml:2", "node 'x'.rate", "only calls of the built-in functions"],
    ),
    "prior_outside_bounds": (
        {"m.yaml": "nodes:\n  x: {tau: 1.0}\nparameters:\n"
                   "  k: {prior: {dist: uniform, low: 0, high: 2}, bounds: [0, 1]}\n"},
        [r"m\.yaml:4", "parameter 'k'", r"prior must lie in \[0, 1\]"],
    ),
    "tau_not_positive": (
        {"m.yaml": "nodes:\n  x: {tau: 0.0}\n"},
        [r"m\.yaml:2", "node 'x'", "tau must be > 0"],
    ),
    "weight_prior_against_sign": (
        {"m.yaml": "nodes:\n  a: {tau: 1.0}\n  b: {tau: 1.0}\nedges:\n"
                   "  - {from: a, to: b, sign: '-', weight: {dist: lognormal, median: 1.0, "
                   "sigma: 0.2}}\n"},
        [r"m\.yaml:5", "edge 'a -> b'", "contradicts the declared sign '-'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_bad_model_exits_2_with_located_message(tmp_path: Path, case: str) -> None:
    files, patterns = BAD_MODELS[case]
    write(tmp_path, files)
    r = fitts_cmd("validate", "m.yaml", cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.stderr
    for pattern in patterns:
        assert re.search(pattern, r.stderr), (pattern, r.stderr)
    assert "hacked" not in r.stdout


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": "nodes:\n  x: {tau: 0.0}\n"})
    r = fitts_cmd("--debug", "validate", "m.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" in r.stderr
    assert "error: " in r.stderr


def test_missing_model_file(tmp_path: Path) -> None:
    r = fitts_cmd("show", "nowhere.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert "nowhere.yaml" in r.stderr and "Traceback" not in r.stderr


def test_diverging_run_exits_1_naming_patient_and_state(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": "nodes:\n  x: {bounds: [null, null], initial: 1.0, "
                               "rate: 'x*x*10'}\n"})
    r = fitts_subprocess("simulate", "m.yaml", "--patients", "2", "--days", "5", "--out", "r.nc",
                         "--backend", "numpy", cwd=tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "patient 0" in r.stderr and "state 'x'" in r.stderr
    assert not (tmp_path / "r.nc").exists()
    # --keep-going writes the results with the failed patients flagged, still exit 1
    r = fitts_cmd("simulate", "m.yaml", "--patients", "2", "--days", "5", "--out", "r.nc",
                  "--backend", "numpy", "--keep-going", cwd=tmp_path)
    assert r.returncode == 1
    assert "2 of 2 patients failed" in r.stderr
    with xr.open_dataset(tmp_path / "r.nc") as ds:
        assert (ds.status.values != 0).all()


def test_show_lists_nodes_edges_and_loops(tiny: Path) -> None:
    r = fitts_cmd("show", "tiny.yaml", "--sources", cwd=tiny.parent)
    assert r.returncode == 0, r.stderr
    assert "normal(mean=-1, sd=0.2, bounds=[-inf, 0])" in r.stdout
    assert "Doe 2020" in r.stdout
    assert "feedback loops: 1 (0 reinforcing, 1 balancing)" in r.stdout


def test_simulate_writes_netcdf_and_table(tiny: Path) -> None:
    folder = tiny.parent
    write(folder, {"sched.yaml": "- {input: stress, kind: pulse, start: 1, duration: 2, "
                                 "level: 1.5}\n"})
    r = fitts_cmd("simulate", "tiny.yaml", "--patients", "5", "--days", "4", "--seed", "7",
                  "--out", "out/r.nc", "--backend", "numpy", "--schedule", "sched.yaml",
                  "--intervention", "calm@2:3", "--table", "out/r.parquet", cwd=folder)
    assert r.returncode == 0, r.stderr
    assert "simulated 5 patients x 4 days of tiny (seed 7, numpy, euler_maruyama): 0 failed" \
        in r.stdout
    with xr.open_dataset(folder / "out" / "r.nc") as ds:
        assert dict(ds["trajectory"].sizes) == {"patient": 5, "time": 5, "state": 2}
        assert ds.attrs["seed"] == 7
        assert len(ds.attrs["model_hash"]) == 16
        assert "simulate" in ds.attrs["command"]
        assert float(ds["trajectory"].sel(state="a", time=2.0).max()) == 0.0  # clamped
    table = pd.read_parquet(folder / "out" / "r.parquet")
    assert list(table.columns) == ["patient", "time", "state", "value"]
    assert len(table) == 5 * 5 * 2


def test_simulate_summary_record(tiny: Path) -> None:
    r = fitts_cmd("simulate", "tiny.yaml", "--patients", "3", "--days", "2", "--record",
                  "summary", "--no-noise", "--out", "s.nc", "--backend", "numpy",
                  cwd=tiny.parent)
    assert r.returncode == 0, r.stderr
    with xr.open_dataset(tiny.parent / "s.nc") as ds:
        assert "trajectory" not in ds and dict(ds["mean"].sizes) == {"patient": 3, "state": 2}
    r = fitts_cmd("plot", "s.nc", "--out", "p.png", cwd=tiny.parent)
    assert r.returncode == 2
    assert "summaries only" in r.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--intervention", "calm@x"], "START and END must be numbers"),
    (["--intervention", "clam"], "unknown intervention 'clam'. Did you mean 'calm'"),
    (["--schedule", "s.yaml"], r"s.yaml:1, schedule #1: unknown input 'stres'"),
])
def test_simulate_bad_options_exit_2(tiny: Path, args: list[str], message: str) -> None:
    write(tiny.parent, {"s.yaml": "- {input: stres, kind: step, level: 1.0}\n"})
    r = fitts_cmd("simulate", "tiny.yaml", "--patients", "2", "--days", "2", "--out", "r.nc",
                  "--backend", "numpy", *args, cwd=tiny.parent)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert re.search(message, r.stderr), r.stderr
    assert "Traceback" not in r.stderr


def test_plot_and_diagram_write_figures(tiny: Path) -> None:
    folder = tiny.parent
    r = fitts_cmd("simulate", "tiny.yaml", "--patients", "4", "--days", "3", "--out", "r.nc",
                  "--backend", "numpy", cwd=folder)
    assert r.returncode == 0, r.stderr
    r = fitts_cmd("plot", "r.nc", "--out", "traj.png", "--states", "a,b", "--max-lines", "2",
                  cwd=folder)
    assert r.returncode == 0, r.stderr
    assert (folder / "traj.png").read_bytes()[:4] == b"\x89PNG"
    r = fitts_cmd("plot", "r.nc", "--out", "traj.png", "--states", "aa", cwd=folder)
    assert r.returncode == 2 and "no state 'aa'" in r.stderr
    r = fitts_cmd("diagram", "tiny.yaml", "--out", "d.svg", "--highlight-loop", "0", cwd=folder)
    assert r.returncode == 0, r.stderr
    assert "<svg" in (folder / "d.svg").read_text()
    r = fitts_cmd("diagram", "tiny.yaml", "--out", "d.svg", "--highlight-loop", "5", cwd=folder)
    assert r.returncode == 2 and "1 loops" in r.stderr
    r = fitts_cmd("loops", "tiny.yaml", cwd=folder)
    assert r.returncode == 0 and "a -> b -> a" in r.stdout


COMMAND_OPTIONS = {
    "validate": [],
    "show": ["--sources"],
    "simulate": ["--out", "--patients", "--days", "--seed", "--dt", "--method", "--backend",
                 "--record", "--record-every", "--no-noise", "--intervention", "--schedule",
                 "--table", "--chunk-size", "--keep-going"],
    "diagram": ["--out", "--highlight-loop"],
    "loops": ["--limit", "--theories", "--out", "--draw", "--figure"],
    "dominance": ["--out", "--scenario", "--behaviour", "--top", "--table", "--backend"],
    "attribute": ["--patients", "--seed", "--out", "--figure", "--threshold", "--max-length",
                  "--backend"],
    "plot": ["--out", "--states", "--max-lines"],
    "demo": ["--out", "--cohort", "--days", "--seed"],
}


@pytest.mark.parametrize("command", list(COMMAND_OPTIONS))
def test_help_of_each_command(tmp_path: Path, command: str) -> None:
    r = fitts_cmd(command, "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout
    for option in COMMAND_OPTIONS[command]:
        assert option in r.stdout, option


@pytest.mark.slow
def test_demo_shows_the_debate_and_writes_its_files(tmp_path: Path) -> None:
    r = fitts_cmd("demo", "--out", "demo", "--cohort", "20", "--days", "400", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "demo"
    for name in ("index.html", "stories.png", "hysteresis.png", "attribution.png", "summary.csv",
                 "scorecards.csv", "stories.nc"):
        assert (folder / name).stat().st_size > 0, name
    summary = pd.read_csv(folder / "summary.csv")
    assert list(summary["theory"]) == ["fitts", "sympathetic_drg", "integrated"]
    # each theory's predisposed patient falls ill under the stressor and the pain outlasts it
    assert (summary["pain during (0-1)"] > summary["pain before (0-1)"] + 0.3).all()
    assert (summary["onset threshold"] > summary["recovery threshold"]).all()
    page = (folder / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "<table" in page
    with xr.open_dataset(folder / "stories.nc", engine="h5netcdf") as ds:
        assert ds["fitts"].dtype == np.float32 and "pain" in ds["state_fitts"].values
    r = fitts_cmd("demo", "--out", "demo2", "--days", "100", cwd=tmp_path)
    assert r.returncode == 2 and "--days" in r.stderr
