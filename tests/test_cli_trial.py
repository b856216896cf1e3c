"""`fitts trial` and `fitts population` run as real commands: files, messages, exit codes."""

from __future__ import annotations

import pandas as pd
import pytest

from fitts.io.results import read_table_metadata
from fitts.run.trial import run_trial
from tests.test_cli import fitts_cmd
from tests.trial_helpers import SMALL_TRIAL, small_trial


def test_trial_command_writes_tables_and_figure(tmp_path):
    path = small_trial(tmp_path, patients=30)
    r = fitts_cmd("trial", path, "--out", "res", "--workers", "1", "--backend", "numpy", "--chunk-size", "16",
                  cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "randomised 30 of 30 candidates screened" in r.stdout and "hedges_g" in r.stdout
    out = tmp_path / "res"
    for name in ("patients", "effects", "arms", "timecourse"):
        assert (out / f"{name}.parquet").exists()
    assert (out / "outcomes.png").stat().st_size > 1000
    assert not (out / "checkpoint").exists()  # removed once the outputs are written
    eff = pd.read_parquet(out / "effects.parquet")
    assert {"hedges_g", "risk_difference"} == set(eff["effect"])
    assert {"responder_30", "responder_50", "pain_nrs_change", "fiqr_change"} == set(eff["outcome"])
    assert set(eff["arm"]) == {"snri", "gaba"} and "all" in set(eff["subgroup"])
    meta = read_table_metadata(out / "effects.parquet")
    assert meta["trial"] == "small" and meta["patients"] == 30 and " trial " in meta["command"]
    assert len(pd.read_parquet(out / "patients.parquet")) == 30


def test_invalid_trial_file_exits_2_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL_TRIAL.format(patients=30).replace("duration_days: 28", "duration_days: -5"))
    r = fitts_cmd("trial", bad, "--out", "res", cwd=tmp_path)
    assert r.returncode == 2
    assert "bad.yaml:" in r.stderr and "duration_days" in r.stderr and "greater than 0" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "res").exists()
    missing = fitts_cmd("trial", "nope.yaml", "--out", "res", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_an_old_checkpoint_needs_resume(tmp_path):
    path = small_trial(tmp_path, patients=20)
    (tmp_path / "res" / "checkpoint").mkdir(parents=True)
    (tmp_path / "res" / "checkpoint" / "manifest.json").write_text('{"job": "trial"}')
    r = fitts_cmd("trial", path, "--out", "res", "--workers", "1", "--backend", "numpy", cwd=tmp_path)
    assert r.returncode == 2 and "--resume" in r.stderr
    r = fitts_cmd("trial", path, "--out", "res", "--workers", "1", "--backend", "numpy", "--resume", cwd=tmp_path)
    assert r.returncode == 2 and "different run" in r.stderr


def test_population_command_reports_the_acceptance_rate(tmp_path):
    r = fitts_cmd("population", "fitts", "--patients", "25", "--recruit", "all", "--run-in-days", "14",
                  "--prevalence", "early_adversity=0.5", "--correlation", "threat_bias,pain_sensitivity=0.3",
                  "--workers", "1", "--backend", "numpy", "--out", "pop.parquet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "acceptance rate 100.00%" in r.stdout
    df = pd.read_parquet(tmp_path / "pop.parquet")
    assert len(df) == 25 and "state.pain" in df.columns and "early_adversity" in df.columns
    bad = fitts_cmd("population", "fitts", "--prevalence", "threat_bias=0.5", "--out", "p.parquet", cwd=tmp_path)
    assert bad.returncode == 2 and "Bernoulli" in bad.stderr


@pytest.mark.slow  # minutes on 2 cores: `make test-slow` / `make check` (CI)
def test_a_killed_trial_resumes_to_the_same_result(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    path = small_trial(tmp_path, patients=80)
    args = [sys.executable, "-m", "fitts.cli", "trial", str(path), "--workers", "1", "--backend", "numpy",
            "--chunk-size", "4", "--no-calibration"]  # compared with the library's run of the theory as written
    proc = subprocess.Popen([*args, "--out", "killed"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "killed" / "checkpoint"
    deadline = time.monotonic() + 120
    while len(list(ckpt.glob("chunk-*.npz"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in ckpt.glob("chunk-*.npz"))
    assert proc.returncode == -signal.SIGKILL and 3 <= len(done) < 20, "the run was not killed midway"
    assert not list((tmp_path / "killed").glob("*.parquet"))  # no output before the run completes
    resumed = fitts_cmd(*args[3:], "--out", "killed", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(done)} resumed" in resumed.stdout
    whole = run_trial(path, chunk_size=80, backend="numpy")  # uninterrupted, in this process
    for name in ("patients", "effects", "timecourse"):
        assert pd.read_parquet(tmp_path / "killed" / f"{name}.parquet").equals(getattr(whole, name)), name
